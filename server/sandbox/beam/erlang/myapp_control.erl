%% The sandbox runtime's control channel: one command per line on the node's stdin, replies on
%% stdout as `@@myapp <id> ok|error <text>` lines (text on one line). It is deliberately not the
%% distribution protocol: the observed app's cookie-protected channel is beamscope's read-only
%% view, and the runtime must be able to steer a node that distribution cannot reach (a wrong
%% cookie, a partition). When stdin closes - the runtime is gone - the node halts at once.
%%
%% Commands (`<id> <command> [argument]`):
%%   ping                     -> pong
%%   info                     -> a JSON object: node, members, registry sizes (Swarm's, and under
%%                               `backends` Horde's and syn's), processes, memory
%%   eval <expression>        -> io_lib:format("~p") of its value, on one line
%%   partition <n1,n2,...>    -> refuse these nodes (disconnect, never connect, drop on nodeup)
%%   heal                     -> refuse nobody
%%   flood <node> <seconds>   -> send large messages to <node> as fast as the link takes them
%%                               (myapp_flood), for <seconds>; `flood stop` ends it
%%   ticktime <seconds>       -> net_kernel:set_net_ticktime/2 (a 5 s transition), so this node
%%                               times its peers out differently from the others
%%   stop                     -> init:stop() (graceful)
-module(myapp_control).
-export([start_link/0, boot/0, init/1]).

start_link() -> proc_lib:start_link(?MODULE, init, [self()]).

%% Entry point (`-eval 'myapp_control:boot()'`): start the app, then tell the runtime.
boot() ->
    case application:ensure_all_started(myapp) of
        {ok, _} ->
            myapp_control ! {announce, <<"@@myapp 0 ready ", (atom_to_binary(node()))/binary>>};
        {error, Reason} ->
            io:format(standard_error, "myapp failed to start: ~p~n", [Reason]),
            erlang:halt(1)
    end.

init(Parent) ->
    register(?MODULE, self()),
    Port = open_port({fd, 0, 1}, [{line, 1 bsl 20}, binary, eof, in, out]),
    proc_lib:init_ack(Parent, {ok, self()}),
    loop(Port, <<>>).

loop(Port, Partial) ->
    receive
        {Port, {data, {noeol, Chunk}}} ->
            loop(Port, <<Partial/binary, Chunk/binary>>);
        {Port, {data, {eol, Chunk}}} ->
            Line = <<Partial/binary, Chunk/binary>>,
            handle(Port, string:trim(Line)),
            loop(Port, <<>>);
        {Port, eof} ->
            %% The runtime that owns this node is gone: leave nothing behind.
            erlang:halt(0);
        {announce, Line} ->
            write(Port, Line),
            loop(Port, Partial);
        _Other ->
            loop(Port, Partial)
    end.

write(Port, Line) -> port_command(Port, [$\n, Line, $\n]).

handle(_Port, <<>>) -> ok;
handle(Port, Line) ->
    {Id, Rest} = split(Line),
    {Command, Argument} = split(Rest),
    %% Each command runs in its own process so a slow eval does not hold the channel.
    spawn(fun() ->
                  {Status, Text} =
                      try run(Command, Argument) of
                          Reply -> {<<"ok">>, Reply}
                      catch
                          Class:Reason:Stack ->
                              {<<"error">>, one_line("~0p:~0p ~0p", [Class, Reason, lists:sublist(Stack, 2)])}
                      end,
                  write(Port, [<<"@@myapp ">>, Id, $\s, Status, $\s, Text]),
                  Command =:= <<"stop">> andalso init:stop()
          end).

split(Bin) ->
    case binary:split(Bin, <<" ">>) of
        [A, B] -> {A, B};
        [A] -> {A, <<>>}
    end.

run(<<"ping">>, _) -> <<"pong">>;
run(<<"stop">>, _) -> <<"stopping">>;
run(<<"heal">>, _) -> ok = myapp_cluster:heal(), <<"ok">>;
run(<<"partition">>, Names) ->
    Nodes = [binary_to_atom(N) || N <- binary:split(Names, <<",">>, [global, trim_all])],
    ok = myapp_cluster:partition(Nodes),
    <<"ok">>;
run(<<"flood">>, <<"stop">>) -> ok = myapp_flood:stop(), <<"ok">>;
run(<<"flood">>, Argument) ->
    [Node, Seconds] = binary:split(Argument, <<" ">>),
    {ok, _} = myapp_flood:start(binary_to_atom(Node), binary_to_integer(Seconds), 1 bsl 20),
    <<"ok">>;
run(<<"ticktime">>, Seconds) ->
    one_line("~0p", [net_kernel:set_net_ticktime(binary_to_integer(Seconds), 5)]);
run(<<"info">>, _) -> info_json();
run(<<"eval">>, Expression) -> one_line("~0tp", [evaluate(Expression)]);
run(Command, _) -> error({unknown_command, Command}).

evaluate(Expression) ->
    Text = unicode:characters_to_list(Expression),
    Source = case lists:reverse(string:trim(Text)) of
                 "." ++ _ -> Text;
                 _ -> Text ++ "."
             end,
    {ok, Tokens, _} = erl_scan:string(Source),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    {value, Value, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
    Value.

one_line(Format, Args) ->
    Text = unicode:characters_to_binary(io_lib:format(Format, Args)),
    binary:replace(Text, [<<"\r">>, <<"\n">>], <<" ">>, [global]).

info_json() ->
    Members = [N || N <- nodes(), myapp_cluster:is_member(N)],
    ByNode = myapp_registry:counts_by_node(),
    json(#{node => node(),
           nodes => lists:sort(Members),
           refused => myapp_cluster:refused(),
           registry => ets:info(swarm_registry, size),
           hosted => myapp_registry:hosted_count(),
           registryByNode => maps:from_list([{atom_to_binary(N), C} || {N, C} <- maps:to_list(ByNode)]),
           %% The other backends' copies on this node (myapp_tables:counts/1).
           backends => myapp_tables:counts(myapp_tables:backends()),
           globalNames => length(global:registered_names()),
           pgGroups => length(pg:which_groups()),
           processes => erlang:system_info(process_count),
           memoryBytes => erlang:memory(total)}).

%% Just enough JSON for info: maps with atom/binary keys, lists, atoms, binaries, integers.
json(Map) when is_map(Map) ->
    Pairs = [[json(to_bin(K)), $:, json(V)] || {K, V} <- lists:sort(maps:to_list(Map))],
    [${, lists:join($,, Pairs), $}];
json(List) when is_list(List) -> [$[, lists:join($,, [json(V) || V <- List]), $]];
json(N) when is_integer(N) -> integer_to_binary(N);
json(true) -> <<"true">>;
json(false) -> <<"false">>;
json(null) -> <<"null">>;
json(A) when is_atom(A) -> json(atom_to_binary(A));
json(B) when is_binary(B) -> [$", escape(B), $"].

to_bin(A) when is_atom(A) -> atom_to_binary(A);
to_bin(B) when is_binary(B) -> B.

escape(B) ->
    << <<(case C of
              $" -> <<"\\\"">>;
              $\\ -> <<"\\\\">>;
              _ when C < 16#20 -> list_to_binary(io_lib:format("\\u~4.16.0b", [C]));
              _ -> <<C>>
          end)/binary>> || <<C>> <= B >>.
