%% The sandbox's "flood a link" fault: this node sends large messages to one other node as fast as
%% distribution lets it, for a while, so that link's send buffer fills and its distribution port
%% queues (then is busy, and the senders are suspended). The demo app does it when the sandbox
%% asks through the control channel; beamscope, which only watches, never sends anything of the kind.
%%
%% The messages go to a name no node registers: the receiving node decodes each one and drops it,
%% so the load is the link's and the receiver's distribution, not any process's mailbox.
-module(myapp_flood).
-export([start/3, stop/0]).

-define(SENDERS, 4).

%% Floods `Node` for `Seconds` with messages of `Bytes` bytes; replaces a flood under way.
start(Node, Seconds, Bytes) when is_atom(Node), Seconds > 0, Bytes > 0 ->
    stop(),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(?MODULE, self()),
                        Parent ! {?MODULE, started},
                        run(Node, Seconds, Bytes)
                end),
    receive {?MODULE, started} -> {ok, Pid} after 5000 -> {error, not_started} end.

%% Ends the flood under way, if any.
stop() ->
    case whereis(?MODULE) of
        undefined -> ok;
        Pid ->
            Ref = monitor(process, Pid),
            exit(Pid, kill),
            receive {'DOWN', Ref, process, Pid, _} -> ok end
    end.

run(Node, Seconds, Bytes) ->
    Payload = binary:copy(<<0>>, Bytes),
    %% Linked: when this process ends (its time is up, or stop/0 kills it) the senders go too.
    [spawn_link(fun() -> send_loop({myapp_flood_sink, Node}, Payload) end)
     || _ <- lists:seq(1, ?SENDERS)],
    timer:sleep(Seconds * 1000),
    exit(done).

send_loop(To, Payload) ->
    To ! Payload,
    send_loop(To, Payload).
