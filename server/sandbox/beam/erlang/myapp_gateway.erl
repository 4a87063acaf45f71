%% A Horde-style dynamic supervisor, 'Elixir.MyApp.GatewaySupervisor': as Horde 0.9 does, each
%% node runs a local supervisor registered as 'Elixir.MyApp.GatewaySupervisor.ProcessesSupervisor'
%% holding the children that node runs. Here a child is one gateway per tenant; myapp_registry
%% places them over the members (place/1) on every rebalance, so they spread over the nodes and
%% move when membership changes. During a partition each side runs every tenant's gateway.
-module(myapp_gateway).
-behaviour(supervisor).
-export([start_supervisor/0, place/1, count/0, start_link/1]).
-export([init/1, loop/1]).

-define(SUPERVISOR, 'Elixir.MyApp.GatewaySupervisor.ProcessesSupervisor').
-define(WORK_INTERVAL_MS, 5000).

start_supervisor() ->
    supervisor:start_link({local, ?SUPERVISOR}, ?MODULE, processes_supervisor).

init(processes_supervisor) ->
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, []}}.

%% Runs this node's share of the gateways, given the members (this node included): with the
%% members sorted, tenant T's gateway runs on member T rem length(Members). An even spread, the
%% same on every node of a mesh, and it moves on any membership change.
place(Members) ->
    Sorted = lists:usort(Members),
    Count = length(Sorted),
    Mine = [Tenant || Tenant <- lists:seq(0, application:get_env(myapp, tenants, 10) - 1),
                      lists:nth(Tenant rem Count + 1, Sorted) =:= node()],
    Running = [Tenant || {{gateway, Tenant}, _, _, _} <- supervisor:which_children(?SUPERVISOR)],
    [begin
         _ = supervisor:terminate_child(?SUPERVISOR, {gateway, Tenant}),
         _ = supervisor:delete_child(?SUPERVISOR, {gateway, Tenant})
     end || Tenant <- Running -- Mine],
    [_ = supervisor:start_child(?SUPERVISOR, #{id => {gateway, Tenant},
                                               start => {?MODULE, start_link, [Tenant]}})
     || Tenant <- Mine -- Running],
    ok.

%% The gateways running on this node (0 when the supervisor is not running).
count() ->
    try proplists:get_value(active, supervisor:count_children(?SUPERVISOR), 0)
    catch exit:_ -> 0
    end.

start_link(Tenant) ->
    {ok, proc_lib:spawn_link(?MODULE, loop, [Tenant])}.

%% Now and then looks at its tenant's devices on this node, so it does a little work.
loop(Tenant) ->
    receive
        _ -> loop(Tenant)
    after ?WORK_INTERVAL_MS ->
        _ = length(pg:get_local_members({tenant, Tenant})),
        erlang:hibernate(?MODULE, loop, [Tenant])
    end.
