%% Application callback and top supervisor of the sandbox demo app.
-module(myapp_app).
-behaviour(application).
-behaviour(supervisor).
-export([start/2, stop/1, init/1]).

start(_Type, _Args) ->
    case application:get_env(myapp, api_url, "") of
        "https" ++ _ -> {ok, _} = application:ensure_all_started(ssl);
        _ -> ok
    end,
    supervisor:start_link({local, myapp_sup}, ?MODULE, []).

stop(_State) -> ok.

init([]) ->
    Control = case application:get_env(myapp, control_stdin, true) of
                  true -> [#{id => myapp_control, start => {myapp_control, start_link, []}}];
                  false -> []
              end,
    %% The Horde-style supervisor's processes supervisor, before the registry that places its
    %% children.
    Gateways = case lists:member(horde, myapp_tables:backends()) of
                   true -> [#{id => gateway_supervisor, type => supervisor,
                              start => {myapp_gateway, start_supervisor, []}}];
                   false -> []
               end,
    Children =
        [#{id => pg, start => {pg, start_link, []}}] ++ Gateways ++
        [#{id => myapp_registry, start => {myapp_registry, start_link, []}},
         #{id => myapp_cluster, start => {myapp_cluster, start_link, []}}] ++ Control,
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, Children}}.
