%% The node's EPMD module (`-epmd_module myapp_epmd`): erl_epmd in everything but where a peer is
%% dialled. Nodes are named with their pod IP, as in a real cluster (`myapp@10.244.0.7`); in the
%% sandbox's loopback mode that address exists nowhere on the machine and the peer listens on its
%% loopback image instead (127.0.0.7). The app's `address_map` says so explicitly, as
%% [{{FromNetwork, PrefixLength}, ToNetwork}]; an empty map (netns mode, where each pod owns its IP)
%% dials the address the name holds. OTP's inet_tcp_dist asks address_please/3 for the address
%% and then port_please/2 at that address, so EPMD-mode lookups go to the mapped address too.
%% The map is read from the command line (`-myapp address_map Term`) so that it also works on a
%% node that never loads the app (the test harness's nodes).
-module(myapp_epmd).
-export([start_link/0, register_node/2, register_node/3, port_please/2, port_please/3,
         listen_port_please/2, names/0, names/1, address_please/3]).

start_link() -> erl_epmd:start_link().
register_node(Name, Port) -> erl_epmd:register_node(Name, Port).
register_node(Name, Port, Family) -> erl_epmd:register_node(Name, Port, Family).
port_please(Name, Host) -> erl_epmd:port_please(Name, Host).
port_please(Name, Host, Timeout) -> erl_epmd:port_please(Name, Host, Timeout).
listen_port_please(Name, Host) -> erl_epmd:listen_port_please(Name, Host).
names() -> erl_epmd:names().
names(Host) -> erl_epmd:names(Host).

address_please(_Name, Host, inet) ->
    case inet:parse_ipv4strict_address(Host) of
        {ok, Ip} -> {ok, mapped(Ip, address_map())};
        {error, _} -> inet:getaddr(Host, inet)
    end;
address_please(_Name, Host, Family) ->
    inet:getaddr(Host, Family).

address_map() ->
    case application:get_env(myapp, address_map) of
        {ok, Map} -> Map;
        undefined ->
            Args = case init:get_argument(myapp) of {ok, Found} -> Found; error -> [] end,
            case [Text || ["address_map", Text] <- Args] of
                [Text | _] ->
                    {ok, Tokens, _} = erl_scan:string(Text ++ "."),
                    {ok, Map} = erl_parse:parse_term(Tokens),
                    Map;
                [] -> []
            end
    end.

mapped(Ip, []) -> Ip;
mapped(Ip, [{{From, Prefix}, To} | Rest]) ->
    Mask = ((1 bsl Prefix) - 1) bsl (32 - Prefix),
    Value = to_integer(Ip),
    case Value band Mask =:= to_integer(From) band Mask of
        true -> from_integer((to_integer(To) band Mask) bor (Value band (bnot Mask)));
        false -> mapped(Ip, Rest)
    end.

to_integer({A, B, C, D}) -> (A bsl 24) bor (B bsl 16) bor (C bsl 8) bor D.
from_integer(N) -> {(N bsr 24) band 255, (N bsr 16) band 255, (N bsr 8) band 255, N band 255}.
