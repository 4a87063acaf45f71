%% myapp_device as release 0.2.0 of the demo app ships it: the same device, keeping twice the
%% readings. The sandbox runs it on a pod started with app version 0.2.0 (see
%% server/sandbox/beam/demo-versions.ts): its md5 differs from 0.1.0's, which is the code skew a
%% rolling deploy shows while it runs. Keep it in step with ../erlang/myapp_device.erl.
-module(myapp_device).
-vsn("0.2.0").
-export([init/3]).

-define(MIN_SLEEP_MS, 3000).
-define(MAX_SLEEP_MS, 15000).
-define(READINGS, 16).

init(Name, Index, Tenant) ->
    Every = application:get_env(myapp, global_every, 100),
    Global = Every > 0 andalso Index rem Every =:= 0,
    case Global of
        true -> self() ! register_global;
        false -> ok
    end,
    loop(#{name => Name, index => Index, tenant => Tenant, global => Global,
           wakeups => 0, readings => [], started => erlang:system_time(millisecond)}).

loop(State = #{name := Name, index := Index}) ->
    receive
        {handoff, Owner} ->
            %% Swarm's begin_handoff: give the state to the new node, then go away.
            erlang:send({myapp_registry, Owner}, {handoff, Index, maps:with([wakeups, readings], State)},
                        [noconnect]),
            exit(normal);
        {handoff_state, Handed} ->
            loop(State#{wakeups := max(maps:get(wakeups, State), maps:get(wakeups, Handed, 0)),
                        readings := maps:get(readings, Handed, [])});
        register_global ->
            %% random_notify_name: on a clash after a partition heals, the loser gets a message
            %% instead of being killed, and tries again once the ring has settled.
            case global:register_name(Name, self(), fun global:random_notify_name/3) of
                yes -> ok;
                no -> erlang:send_after(2000, self(), register_global)
            end,
            loop(State);
        {global_name_conflict, Name} ->
            erlang:send_after(2000, self(), register_global),
            loop(State);
        _Other ->
            loop(State)
    after ?MIN_SLEEP_MS + rand:uniform(?MAX_SLEEP_MS - ?MIN_SLEEP_MS) ->
        loop(work(State))
    end.

work(State = #{wakeups := Wakeups, readings := Readings}) ->
    Reading = {erlang:system_time(millisecond), rand:uniform() * 100},
    %% Now and then a short-lived helper, so the process count moves as in a real app.
    case rand:uniform(20) of
        1 -> spawn(fun() -> timer:sleep(500 + rand:uniform(2500)) end);
        _ -> ok
    end,
    State#{wakeups := Wakeups + 1, readings := lists:sublist([Reading | Readings], ?READINGS)}.
