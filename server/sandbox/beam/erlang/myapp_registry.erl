%% Devices placed on a consistent-hash ring over the current members, with a Swarm-compatible
%% registry: the named ETS table `swarm_registry` holds `{entry, Name, Pid, Ref, Meta, Clock}`
%% (key position 2) and is replicated on every node, as Swarm's is: every node's table lists all
%% devices, the hosting node being `node(Pid)`.
%%
%% Kept simple and convergent: each node starts, registers and owns the devices the ring gives
%% it, and broadcasts its own rows to its peers (on change and every few seconds); a peer replaces
%% that node's rows with them, and drops them on nodedown. On a membership change a device the
%% ring moves elsewhere hands its state to its new node (Swarm's begin_handoff) and stops.
-module(myapp_registry).
-behaviour(gen_server).
-export([start_link/0, members/0, hosted_count/0, counts_by_node/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, swarm_registry).
-define(VNODES, 64).
-define(REBALANCE_DELAY_MS, 300).
-define(SYNC_INTERVAL_MS, 10000).

-record(state, {members = [] :: [node()],
                hosted = #{} :: #{term() => {pid(), reference(), pos_integer()}},
                %% What each node (this one included) last said it hosts, and a digest of it.
                claims = #{} :: #{node() => #{term() => tuple()}},
                digests = #{} :: #{node() => integer()},
                clock = 0 :: non_neg_integer(),
                rebalance_timer :: reference() | undefined}).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], [{spawn_opt, [{fullsweep_after, 20}]}]).

members() -> gen_server:call(?MODULE, members).

%% Rows of this node's table whose process lives on this node.
hosted_count() ->
    Node = node(),
    ets:select_count(?TABLE, [{{entry, '_', '$1', '_', '_', '_'}, [{'==', {node, '$1'}, Node}], [true]}]).

%% This node's view of the registry: rows per hosting node.
counts_by_node() ->
    ets:foldl(fun({entry, _, Pid, _, _, _}, Acc) ->
                      maps:update_with(node(Pid), fun(C) -> C + 1 end, 1, Acc)
              end, #{}, ?TABLE).

init([]) ->
    ?TABLE = ets:new(?TABLE, [set, named_table, protected, {keypos, 2}, {read_concurrency, true}]),
    ok = net_kernel:monitor_nodes(true),
    erlang:send_after(?SYNC_INTERVAL_MS, self(), sync),
    {ok, rebalance(#state{})}.

handle_call(members, _From, State) -> {reply, State#state.members, State}.

handle_cast(_Msg, State) -> {noreply, State}.

handle_info(sync, State) ->
    {noreply, State1} = info(sync, State),
    %% Every sync tick, compact this process's heap (the claims of a 20-node cluster) and pg's:
    %% after a rebalance storm both stay large otherwise, and busy nodes are never idle.
    case whereis(pg) of
        undefined -> ok;
        Pg -> erlang:garbage_collect(Pg)
    end,
    {noreply, State1, hibernate};
handle_info(Msg, State) ->
    info(Msg, State).

info({nodeup, Node}, State) ->
    case myapp_cluster:is_member(Node) of
        true -> send(Node, {rows, node(), own_rows(State)});
        false -> ok
    end,
    {noreply, schedule_rebalance(State)};
info({nodedown, Node}, State) ->
    State1 = apply_claims(Node, [], State),
    %% Anything of that node still in the table (it cannot host anything now) goes too.
    ets:select_delete(?TABLE, [{{entry, '_', '$1', '_', '_', '_'}, [{'==', {node, '$1'}, Node}], [true]}]),
    {noreply, schedule_rebalance(State1#state{claims = maps:remove(Node, State1#state.claims),
                                              digests = maps:remove(Node, State1#state.digests)})};
info(rebalance, State) ->
    {noreply, rebalance(State#state{rebalance_timer = undefined})};
info(sync, State) ->
    erlang:send_after(?SYNC_INTERVAL_MS, self(), sync),
    %% A safety net only: peers skip an unchanged list by its digest.
    Rows = own_rows(State),
    [send(Node, {rows, node(), Rows}) || Node <- State#state.members, Node =/= node()],
    {noreply, State};
info({rows, Node, Rows}, State) when Node =/= node() ->
    case lists:member(Node, nodes()) of
        true -> {noreply, apply_claims(Node, Rows, State)};
        false -> {noreply, State}  % a late message from a node already down
    end;
info({handoff, Name, DeviceState}, State = #state{hosted = Hosted}) ->
    case Hosted of
        #{Name := {Pid, _, _}} ->
            Pid ! {handoff_state, DeviceState},
            {noreply, State};
        _ ->
            {noreply, State}  % not ours (views differ for a moment): the owner starts it afresh
    end;
info({'DOWN', Ref, process, _Pid, _Reason}, State = #state{hosted = Hosted}) ->
    case [Name || {Name, {_, R, _}} <- maps:to_list(Hosted), R =:= Ref] of
        [Name] ->
            %% A crashed device (or one that lost a :global name clash) comes back on the next
            %% rebalance if the ring still gives it to this node.
            State1 = publish(State#state{hosted = maps:remove(Name, Hosted)}),
            {noreply, schedule_rebalance(State1)};
        [] ->
            {noreply, State}
    end;
info(_Other, State) ->
    {noreply, State}.

schedule_rebalance(State = #state{rebalance_timer = undefined}) ->
    State#state{rebalance_timer = erlang:send_after(?REBALANCE_DELAY_MS, self(), rebalance)};
schedule_rebalance(State) ->
    State.

rebalance(State = #state{hosted = Hosted}) ->
    Members = lists:usort([node() | [N || N <- nodes(), myapp_cluster:is_member(N)]]),
    Ring = ring(Members),
    Count = application:get_env(myapp, devices, 10000),
    Tenants = application:get_env(myapp, tenants, 10),
    Wanted = [I || I <- lists:seq(1, Count), owner(Ring, device_name(I)) =:= node()],
    WantedNames = maps:from_list([{device_name(I), I} || I <- Wanted]),
    %% Hand off what moved away (the device sends its state to its new node, then stops).
    Leaving = [{Name, Pid, Ref} || {Name, {Pid, Ref, _}} <- maps:to_list(Hosted),
                                   not maps:is_key(Name, WantedNames)],
    %% Leave the :pg groups in batches first: one broadcast per group instead of one per device
    %% exit, which on 20 nodes is what makes or breaks the cost of a rebalance.
    leave_groups([{Name, maps:get(Name, Hosted)} || {Name, _, _} <- Leaving], Tenants),
    [begin
         erlang:demonitor(Ref, [flush]),
         Pid ! {handoff, owner(Ring, Name)}
     end || {Name, Pid, Ref} <- Leaving],
    Kept = maps:without([Name || {Name, _, _} <- Leaving], Hosted),
    Started = [{device_name(I), start_device(I, Tenants)} || I <- Wanted,
                                                             not maps:is_key(device_name(I), Kept)],
    join_groups(Started, Tenants),
    Clock = State#state.clock + 1,
    State1 = State#state{members = Members, clock = Clock,
                         hosted = maps:merge(Kept, maps:from_list(Started))},
    case Leaving =:= [] andalso Started =:= [] of
        true -> State1;
        false -> publish(State1)
    end.

start_device(Index, Tenants) ->
    {Pid, Ref} = spawn_opt(myapp_device, init, [device_name(Index), Index, tenant(Index, Tenants)],
                           [monitor]),
    {Pid, Ref, Index}.

%% Devices are named as an IoT platform names them: by a string id, here <<"device-00042">>.
%% A binary is what an operator can type into the dashboard's lookup.
device_name(Index) ->
    iolist_to_binary(io_lib:format("device-~5..0B", [Index])).

tenant(Index, Tenants) -> Index rem Tenants.

%% :pg groups per tenant, joined in batches (one message per group rather than per device).
join_groups(Started, Tenants) ->
    maps:foreach(fun(Group, Pids) -> pg:join(Group, Pids) end, by_tenant(Started, Tenants)).

leave_groups(Leaving, Tenants) ->
    maps:foreach(fun(Group, Pids) -> pg:leave(Group, Pids) end, by_tenant(Leaving, Tenants)).

by_tenant(Devices, Tenants) ->
    lists:foldl(fun({_, {Pid, _, Index}}, Acc) ->
                        maps:update_with({tenant, tenant(Index, Tenants)},
                                         fun(Pids) -> [Pid | Pids] end, [Pid], Acc)
                end, #{}, Devices).

own_rows(#state{claims = Claims}) -> maps:values(maps:get(node(), Claims, #{})).

publish(State = #state{hosted = Hosted, clock = Clock, members = Members}) ->
    Tenants = application:get_env(myapp, tenants, 10),
    Rows = [{entry, Name, Pid, Ref,
             #{mfa => {myapp_device, init, [Name, Index, tenant(Index, Tenants)]},
               tenant => tenant(Index, Tenants)},
             Clock}
            || {Name, {Pid, Ref, Index}} <- maps:to_list(Hosted)],
    State1 = apply_claims(node(), Rows, State),
    [send(Node, {rows, node(), Rows}) || Node <- Members, Node =/= node()],
    State1.

%% Records what Node says it hosts and updates the table, touching only the names that changed:
%% a name's row always comes from one of the nodes claiming it (this node first), and a name no
%% node claims any more is removed. An unchanged list (same digest) costs nothing.
apply_claims(Node, Rows, State = #state{claims = Claims, digests = Digests}) ->
    Digest = erlang:phash2(Rows),
    case Digests of
        #{Node := Digest} ->
            State;
        _ ->
            Old = maps:get(Node, Claims, #{}),
            New = maps:from_list([{Name, Row} || Row = {entry, Name, _, _, _, _} <- Rows]),
            Claims1 = Claims#{Node => New},
            Mine = maps:get(node(), Claims1, #{}),
            maps:foreach(
              fun(Name, _) ->
                      case maps:is_key(Name, New) of
                          true -> ok;
                          false -> withdraw(Name, Node, Claims1)
                      end
              end, Old),
            maps:foreach(
              fun(Name, Row) ->
                      Unchanged = maps:get(Name, Old, none) =:= Row,
                      Shown = Node =:= node() orelse not maps:is_key(Name, Mine),
                      case Shown andalso not Unchanged of
                          true -> ets:insert(?TABLE, Row);
                          false -> ok
                      end
              end, New),
            State#state{claims = Claims1, digests = Digests#{Node => Digest}}
    end.

%% Node no longer claims Name: if the table shows its row, show another claimant's or none.
withdraw(Name, Node, Claims) ->
    case ets:lookup(?TABLE, Name) of
        [{entry, _, Pid, _, _, _}] when node(Pid) =:= Node ->
            Others = [Row || {Claimant, Names} <- lists:keysort(1, maps:to_list(Claims)),
                             Claimant =/= Node, Row <- [maps:get(Name, Names, none)], Row =/= none],
            Mine = maps:get(Name, maps:get(node(), Claims, #{}), none),
            case {Mine, Others} of
                {none, []} -> ets:delete(?TABLE, Name);
                {none, [Row | _]} -> ets:insert(?TABLE, Row);
                {Row, _} -> ets:insert(?TABLE, Row)
            end;
        _ ->
            ok
    end.

%% Never auto-connect: a partitioned node must not be dialled by a registry broadcast.
send(Node, Msg) -> erlang:send({?MODULE, Node}, Msg, [noconnect]).

ring(Members) ->
    Points = lists:sort([{erlang:phash2({Node, V}, 1 bsl 32), Node}
                         || Node <- Members, V <- lists:seq(1, ?VNODES)]),
    list_to_tuple(Points).

%% The first point at or after the key's hash, wrapping around.
owner(Ring, Key) ->
    Hash = erlang:phash2(Key, 1 bsl 32),
    Size = tuple_size(Ring),
    Index = search(Ring, Hash, 1, Size),
    {_, Node} = element(if Index > Size -> 1; true -> Index end, Ring),
    Node.

search(_Ring, _Hash, Low, High) when Low > High -> Low;
search(Ring, Hash, Low, High) ->
    Mid = (Low + High) div 2,
    case element(Mid, Ring) of
        {Point, _} when Point < Hash -> search(Ring, Hash, Mid + 1, High);
        _ -> search(Ring, Hash, Low, Mid - 1)
    end.
