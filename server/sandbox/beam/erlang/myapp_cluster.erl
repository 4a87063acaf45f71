%% Clustering as libcluster's Cluster.Strategy.Kubernetes does it: poll the API for the service's
%% ready endpoints, connect to `basename@IP` of each, disconnect the nodes that were listed and no
%% longer are (a 403 lists nobody, as in libcluster, so every node is dropped; see apply_endpoints
%% for other failures).
%%
%% A partition (set through the control channel, never through distribution) overrides it: the
%% refused nodes are disconnected, never connected to, and disconnected again when they connect.
-module(myapp_cluster).
-behaviour(gen_server).
-export([start_link/0, partition/1, heal/0, refused/0, node_name/1, is_member/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(state, {listed = [] :: [node()],
                refused = [] :: [node()],
                connecting = #{} :: #{node() => pid()},
                fetching = false :: boolean(),
                last_error :: term()}).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% Refuse these nodes until heal/0.
partition(Nodes) -> gen_server:call(?MODULE, {partition, Nodes}).
heal() -> gen_server:call(?MODULE, heal).
refused() -> gen_server:call(?MODULE, refused).

%% The node name a pod with this IP runs under.
node_name(Ip) when is_binary(Ip) -> node_name(binary_to_list(Ip));
node_name(Ip) ->
    Base = application:get_env(myapp, basename, "myapp"),
    case application:get_env(myapp, node_naming, ip) of
        ip_suffixed -> list_to_atom(Base ++ "-" ++ lists:flatten(string:replace(Ip, ".", "-", all)) ++ "@" ++ Ip);
        _ -> list_to_atom(Base ++ "@" ++ Ip)
    end.

%% Whether a connected node runs this app (same basename), as opposed to e.g. an observer.
is_member(Node) ->
    Base = application:get_env(myapp, basename, "myapp"),
    [Name | _] = string:split(atom_to_list(Node), "@"),
    Name =:= Base orelse lists:prefix(Base ++ "-", Name).

init([]) ->
    ok = net_kernel:monitor_nodes(true),
    self() ! poll,
    {ok, #state{}}.

handle_call({partition, Nodes}, _From, State) ->
    Refused = lists:usort([N || N <- Nodes, N =/= node()]),
    [erlang:disconnect_node(N) || N <- Refused, lists:member(N, nodes())],
    {reply, ok, State#state{refused = Refused}};
handle_call(heal, _From, State) ->
    self() ! poll,
    {reply, ok, State#state{refused = []}};
handle_call(refused, _From, State) ->
    {reply, State#state.refused, State}.

handle_cast(_Msg, State) -> {noreply, State}.

handle_info(poll, State = #state{fetching = true}) ->
    {noreply, State};
handle_info(poll, State) ->
    %% The request runs in its own process, so partition/heal never wait on a slow API.
    Self = self(),
    spawn_link(fun() -> Self ! {endpoints, ready_ips()} end),
    {noreply, State#state{fetching = true}};
handle_info({endpoints, Result}, State) ->
    Interval = application:get_env(myapp, poll_interval_ms, 1000),
    erlang:send_after(Interval, self(), poll),
    {noreply, apply_endpoints(Result, State#state{fetching = false})};
handle_info({nodeup, Node}, State = #state{refused = Refused}) ->
    case lists:member(Node, Refused) of
        true -> erlang:disconnect_node(Node);
        false -> ok
    end,
    {noreply, State};
handle_info({nodedown, _Node}, State) ->
    {noreply, State};
handle_info({connected, Node}, State = #state{connecting = Connecting}) ->
    {noreply, State#state{connecting = maps:remove(Node, Connecting)}};
handle_info(_Other, State) ->
    {noreply, State}.

apply_endpoints(Result, State = #state{listed = Listed, refused = Refused,
                                      connecting = Connecting}) ->
    {Now, LastError} =
        case Result of
            {ok, Ips} -> {lists:usort([node_name(Ip) || Ip <- Ips]) -- [node()], undefined};
            {error, Reason} ->
                case State#state.last_error of
                    Reason -> ok;
                    _ -> logger:warning("myapp_cluster: listing endpoints failed: ~0p", [Reason])
                end,
                %% libcluster drops every node when RBAC refuses it (403). Any other failure (a
                %% timeout, a refused connection, a 401) keeps the last list here instead, so a
                %% loaded machine (20 nodes on 2 cores) or an API restart does not tear the mesh
                %% down and make it thrash.
                case Reason of
                    {http_status, 403} -> {[], Reason};
                    _ -> {Listed, Reason}
                end
        end,
    Connected = nodes(),
    [erlang:disconnect_node(N) || N <- Listed -- Now, lists:member(N, Connected)],
    [erlang:disconnect_node(N) || N <- Refused, lists:member(N, Connected)],
    Wanted = [N || N <- Now -- Refused, not lists:member(N, Connected),
                   not maps:is_key(N, Connecting)],
    Self = self(),
    Started = maps:from_list(
                [{N, spawn(fun() -> _ = net_kernel:connect_node(N), Self ! {connected, N} end)}
                 || N <- Wanted]),
    State#state{listed = Now, connecting = maps:merge(Connecting, Started), last_error = LastError}.

%% The IPs of the service's ready endpoints, from EndpointSlices or Endpoints.
ready_ips() ->
    Ns = application:get_env(myapp, namespace, "default"),
    Svc = application:get_env(myapp, service, "myapp"),
    case application:get_env(myapp, discovery, endpointslices) of
        endpoints ->
            case get_json("/api/v1/namespaces/" ++ Ns ++ "/endpoints/" ++ Svc) of
                {ok, Body} -> {ok, endpoints_ips(Body)};
                Error -> Error
            end;
        _ ->
            Path = "/apis/discovery.k8s.io/v1/namespaces/" ++ Ns
                ++ "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D" ++ Svc,
            case get_json(Path) of
                {ok, Body} -> {ok, slices_ips(Body)};
                Error -> Error
            end
    end.

endpoints_ips(Body) ->
    [Ip || Subset <- list(maps:get(<<"subsets">>, Body, [])),
           Address <- list(maps:get(<<"addresses">>, Subset, [])),
           Ip <- [maps:get(<<"ip">>, Address, null)], is_binary(Ip)].

slices_ips(Body) ->
    [Ip || Slice <- list(maps:get(<<"items">>, Body, [])),
           Endpoint <- list(maps:get(<<"endpoints">>, Slice, [])),
           %% The API: a nil `ready` is to be read as ready.
           maps:get(<<"ready">>, maps:get(<<"conditions">>, Endpoint, #{}), null) =/= false,
           Ip <- list(maps:get(<<"addresses">>, Endpoint, [])), is_binary(Ip)].

list(L) when is_list(L) -> L;
list(_) -> [].

get_json(Path) ->
    Url = application:get_env(myapp, api_url, ""),
    Headers = [{"accept", "application/json"} | auth_header()],
    HttpOptions = [{timeout, 5000}, {connect_timeout, 3000} | ssl_options(Url)],
    case httpc:request(get, {Url ++ Path, Headers}, HttpOptions, [{body_format, binary}]) of
        {ok, {{_, 200, _}, _, Body}} ->
            case myapp_json:decode(Body) of
                {ok, Json} when is_map(Json) -> {ok, Json};
                {ok, _} -> {error, not_an_object};
                Error -> Error
            end;
        {ok, {{_, Status, _}, _, _}} -> {error, {http_status, Status}};
        {error, Reason} -> {error, Reason}
    end.

auth_header() ->
    case application:get_env(myapp, token_file, "") of
        "" -> [];
        File ->
            case file:read_file(File) of
                {ok, Token} -> [{"authorization", "Bearer " ++ string:trim(binary_to_list(Token))}];
                {error, _} -> []
            end
    end.

ssl_options("https" ++ _) ->
    case application:get_env(myapp, ca_file, "") of
        "" -> [{ssl, [{verify, verify_none}]}];
        Ca -> [{ssl, [{verify, verify_peer}, {cacertfile, Ca},
                      {customize_hostname_check, [{match_fun, fun match_ip_san/2}]}]}]
    end;
ssl_options(_) -> [].

%% OTP 25 checks an IP host such as 127.0.0.1 as a DNS name, so a certificate with only the IP
%% in its subjectAltName fails; accept an iPAddress SAN equal to that IP, else the default rules.
match_ip_san({dns_id, Host}, {iPAddress, Bytes}) ->
    case inet:parse_address(Host) of
        {ok, Address} -> tuple_to_list(Address) =:= Bytes;
        {error, _} -> default
    end;
match_ip_san(_, _) -> default.
