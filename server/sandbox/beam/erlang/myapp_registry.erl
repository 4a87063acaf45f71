%% Devices placed on a consistent-hash ring over the current members, with registries replicated
%% on every node in the layouts of Swarm, Horde and syn (myapp_tables): every node's copies list
%% all devices, the hosting node being `node(Pid)`.
%%
%% Kept simple and convergent: each node starts and owns the devices the ring gives it, and
%% publishes its claims - one {Pid, Ref, Clock, Time} per device index, from which every table's
%% rows follow - to its peers (on change and every few seconds); a peer replaces that node's
%% claims with them, and drops them on nodedown. A device's rows come from this node's claim if
%% it has one, else from the first claimant in node order. On a membership change a device the
%% ring moves elsewhere hands its state to its new node (Swarm's begin_handoff) and stops; the
%% Horde-style supervisor's gateways are placed again (myapp_gateway).
%%
%% A node that comes back (after a partition, or restarted under the same name) is synced with
%% only after `heal_sync_delay_ms`, as Swarm and Horde reconcile a while after a heal: until then
%% both sides keep the devices each started during the split, and the copies disagree - names
%% that point at two processes - which is what beamscope shows after a netsplit.
-module(myapp_registry).
-behaviour(gen_server).
-export([start_link/0, members/0, hosted_count/0, counts_by_node/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, swarm_registry).
-define(VNODES, 64).
-define(REBALANCE_DELAY_MS, 300).
-define(SYNC_INTERVAL_MS, 10000).

-record(state, {members = [] :: [node()],
                backends = [] :: [horde | syn],
                tables = [] :: [atom()],
                %% What each node (this one included: the devices it hosts) last said it hosts,
                %% by device index, and a digest of it.
                claims = #{} :: #{node() => #{pos_integer() => myapp_tables:claim()}},
                digests = #{} :: #{node() => integer()},
                clock = 0 :: non_neg_integer(),
                %% Every member node seen so far: one seen before that comes up again is a heal.
                seen = #{} :: #{node() => true},
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
    Backends = myapp_tables:backends(),
    Tables = myapp_tables:create(Backends),
    ok = net_kernel:monitor_nodes(true),
    erlang:send_after(?SYNC_INTERVAL_MS, self(), sync),
    Seen = maps:from_list([{N, true} || N <- nodes(), myapp_cluster:is_member(N)]),
    {ok, rebalance(#state{backends = Backends, tables = Tables, seen = Seen})}.

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

info({nodeup, Node}, State = #state{seen = Seen}) ->
    case myapp_cluster:is_member(Node) of
        true when is_map_key(Node, Seen) ->
            erlang:send_after(application:get_env(myapp, heal_sync_delay_ms, 10000), self(),
                              {healed, Node}),
            {noreply, State};
        true ->
            send(Node, {claims, node(), hosted(State)}),
            {noreply, schedule_rebalance(State#state{seen = Seen#{Node => true}})};
        false ->
            {noreply, schedule_rebalance(State)}
    end;
info({healed, Node}, State) ->
    case lists:member(Node, nodes()) of
        true -> send(Node, {claims, node(), hosted(State)});
        false -> ok
    end,
    {noreply, schedule_rebalance(State)};
info({nodedown, Node}, State) ->
    State1 = apply_claims(Node, #{}, State),
    %% Anything of that node still in the tables (it cannot host anything now) goes too.
    myapp_tables:drop_node(State1#state.tables, Node),
    {noreply, schedule_rebalance(State1#state{claims = maps:remove(Node, State1#state.claims),
                                              digests = maps:remove(Node, State1#state.digests)})};
info(rebalance, State) ->
    {noreply, rebalance(State#state{rebalance_timer = undefined})};
info(sync, State) ->
    erlang:send_after(?SYNC_INTERVAL_MS, self(), sync),
    %% A safety net only: peers skip an unchanged map by its digest.
    Hosted = hosted(State),
    [send(Node, {claims, node(), Hosted}) || Node <- State#state.members, Node =/= node()],
    {noreply, State};
info({claims, Node, Claims}, State) when Node =/= node(), is_map(Claims) ->
    case lists:member(Node, nodes()) of
        true -> {noreply, apply_claims(Node, Claims, State)};
        false -> {noreply, State}  % a late message from a node already down
    end;
info({handoff, Index, DeviceState}, State) ->
    case hosted(State) of
        #{Index := {Pid, _, _, _}} ->
            Pid ! {handoff_state, DeviceState},
            {noreply, State};
        _ ->
            {noreply, State}  % not ours (views differ for a moment): the owner starts it afresh
    end;
info({'DOWN', Ref, process, _Pid, _Reason}, State) ->
    Hosted = hosted(State),
    case [Index || {Index, {_, R, _, _}} <- maps:to_list(Hosted), R =:= Ref] of
        [Index] ->
            %% A crashed device (or one that lost a :global name clash) comes back on the next
            %% rebalance if the ring still gives it to this node.
            State1 = publish(maps:remove(Index, Hosted), State),
            {noreply, schedule_rebalance(State1)};
        [] ->
            {noreply, State}
    end;
info(_Other, State) ->
    {noreply, State}.

%% The devices this node hosts: its own claims.
hosted(#state{claims = Claims}) -> maps:get(node(), Claims, #{}).

schedule_rebalance(State = #state{rebalance_timer = undefined}) ->
    State#state{rebalance_timer = erlang:send_after(?REBALANCE_DELAY_MS, self(), rebalance)};
schedule_rebalance(State) ->
    State.

rebalance(State = #state{clock = Clock0}) ->
    Hosted = hosted(State),
    Members = lists:usort([node() | [N || N <- nodes(), myapp_cluster:is_member(N)]]),
    Ring = ring(Members),
    Count = application:get_env(myapp, devices, 10000),
    Wanted = [I || I <- lists:seq(1, Count), owner(Ring, myapp_tables:device_name(I)) =:= node()],
    Kept = maps:with(Wanted, Hosted),
    %% Hand off what moved away (the device sends its state to its new node, then stops).
    Leaving = maps:to_list(maps:without(Wanted, Hosted)),
    %% Leave the :pg groups in batches first: one broadcast per group instead of one per device
    %% exit, which on 20 nodes is what makes or breaks the cost of a rebalance.
    leave_groups(Leaving),
    [begin
         erlang:demonitor(Ref, [flush]),
         Pid ! {handoff, owner(Ring, myapp_tables:device_name(Index))}
     end || {Index, {Pid, Ref, _, _}} <- Leaving],
    Clock = Clock0 + 1,
    Started = [{I, start_device(I, Clock)} || I <- Wanted, not maps:is_key(I, Kept)],
    join_groups(Started),
    case lists:member(horde, State#state.backends) of
        true -> myapp_gateway:place(Members);
        false -> ok
    end,
    State1 = State#state{members = Members, clock = Clock},
    case Leaving =:= [] andalso Started =:= [] of
        true -> State1;
        false -> publish(maps:merge(Kept, maps:from_list(Started)), State1)
    end.

%% A device's claim: its pid and this process's monitor (Swarm's and syn's Ref), the clock of
%% the rebalance that started it (Swarm's Clock) and when (syn's Time, erlang:system_time()).
start_device(Index, Clock) ->
    Name = myapp_tables:device_name(Index),
    {Pid, Ref} = spawn_opt(myapp_device, init, [Name, Index, myapp_tables:tenant(Index)],
                           [monitor]),
    {Pid, Ref, Clock, erlang:system_time()}.

%% :pg groups per tenant, joined in batches (one message per group rather than per device).
join_groups(Devices) ->
    maps:foreach(fun(Group, Pids) -> pg:join(Group, Pids) end, by_tenant(Devices)).

leave_groups(Devices) ->
    maps:foreach(fun(Group, Pids) -> pg:leave(Group, Pids) end, by_tenant(Devices)).

by_tenant(Devices) ->
    lists:foldl(fun({Index, {Pid, _, _, _}}, Acc) ->
                        maps:update_with({tenant, myapp_tables:tenant(Index)},
                                         fun(Pids) -> [Pid | Pids] end, [Pid], Acc)
                end, #{}, Devices).

%% This node now hosts Hosted: record it and tell the peers.
publish(Hosted, State = #state{members = Members}) ->
    State1 = apply_claims(node(), Hosted, State),
    [send(Node, {claims, node(), Hosted}) || Node <- Members, Node =/= node()],
    State1.

%% Records what Node says it hosts and updates the tables, touching only the devices whose
%% claims changed, and of those only the ones whose shown claim changed. An unchanged map (same
%% digest) costs nothing.
apply_claims(Node, New, State = #state{claims = Claims, digests = Digests, tables = Tables}) ->
    Digest = erlang:phash2(New),
    case Digests of
        #{Node := Digest} ->
            State;
        _ ->
            Old = maps:get(Node, Claims, #{}),
            Claims1 = Claims#{Node => New},
            Before = in_order(Claims),
            After = in_order(Claims1),
            [myapp_tables:show(Tables, Index, shown(Index, Before), shown(Index, After))
             || Index <- changed(Old, New)],
            State#state{claims = Claims1, digests = Digests#{Node => Digest}}
    end.

%% The indexes added, removed or claimed differently.
changed(Old, New) ->
    Gone = [Index || Index <- maps:keys(Old), not maps:is_key(Index, New)],
    maps:fold(fun(Index, Claim, Acc) ->
                      case Old of
                          #{Index := Claim} -> Acc;
                          _ -> [Index | Acc]
                      end
              end, Gone, New).

%% Every node's claims, this node's first, then by node name: the order in which they are shown.
in_order(Claims) ->
    [maps:get(node(), Claims, #{}) | [Map || {Node, Map} <- lists:keysort(1, maps:to_list(Claims)),
                                             Node =/= node()]].

shown(Index, [Map | Rest]) ->
    case Map of
        #{Index := Claim} -> Claim;
        _ -> shown(Index, Rest)
    end;
shown(_Index, []) ->
    none.

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
