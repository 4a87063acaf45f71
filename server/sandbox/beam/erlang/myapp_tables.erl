%% The registry tables the demo keeps on every node, each in the layout the library it stands for
%% keeps (read from those libraries' source at the versions named; none of their code is here):
%%
%%   Swarm 3.4   swarm_registry                      set, key position 2
%%               {entry, <<"device-00042">>, Pid, Ref, #{mfa, tenant}, Clock}
%%   Horde 0.9   'keys_Elixir.MyApp.DeviceRegistry'  set
%%               {{device, 42}, {'Elixir.MyApp.DeviceRegistry', node(Pid)}, {Pid, nil}}
%%   syn 3.4     syn_table_names                     set
%%               {{syn_registry_by_name, devices}, syn_registry_by_name_devices}
%%               {{syn_pg_by_name, devices}, syn_pg_by_name_devices}
%%               syn_registry_by_name_devices        set
%%               {<<"device-00042">>, Pid, undefined, Time, MRef, node(Pid)}
%%               syn_pg_by_name_devices              ordered_set
%%               {{{tenant, 2}, Pid}, undefined, Time, MRef, node(Pid)}
%%
%% Every row of a device follows from one claim, {Pid, Ref, Clock, Time}, that its hosting node
%% publishes (myapp_registry): the same claim gives the same rows on every node, except syn's
%% MRef, which syn keeps only on the pid's own node (`undefined` in the other copies).
%%
%% Horde's other tables (the registry's own, pids_, members_) and syn's by-pid tables are left
%% out: beamscope reads none of them, and each would cost another copy of every device per node.
-module(myapp_tables).
-export([backends/0, tables/1, create/1, show/4, drop_node/2, counts/1]).
-export([device_name/1, tenant/1]).

-define(SWARM, swarm_registry).
-define(HORDE_REGISTRY, 'Elixir.MyApp.DeviceRegistry').
-define(HORDE_KEYS, 'keys_Elixir.MyApp.DeviceRegistry').
-define(SYN_SCOPE, devices).
-define(SYN_NAMES, syn_registry_by_name_devices).
-define(SYN_GROUPS, syn_pg_by_name_devices).

-type claim() :: {pid(), reference(), Clock :: pos_integer(), Time :: integer()}.
-export_type([claim/0]).

%% The backends kept besides Swarm's (always kept): app env `extra_registries`, a subset of
%% [horde, syn]. Anything else in it is ignored.
backends() ->
    Wanted = application:get_env(myapp, extra_registries, [horde, syn]),
    [Backend || Backend <- [horde, syn], lists:member(Backend, Wanted)].

%% The device tables of these backends.
tables(Backends) ->
    [?SWARM]
        ++ [?HORDE_KEYS || lists:member(horde, Backends)]
        ++ [?SYN_NAMES || lists:member(syn, Backends)]
        ++ [?SYN_GROUPS || lists:member(syn, Backends)].

%% Creates the tables (owned by the calling process) and returns them.
create(Backends) ->
    Tables = tables(Backends),
    [Table = ets:new(Table, [named_table, protected, {read_concurrency, true} | options(Table)])
     || Table <- Tables],
    case lists:member(syn, Backends) of
        true ->
            syn_table_names = ets:new(syn_table_names, [named_table, protected, set,
                                                        {read_concurrency, true}]),
            true = ets:insert(syn_table_names, [{{syn_registry_by_name, ?SYN_SCOPE}, ?SYN_NAMES},
                                                {{syn_pg_by_name, ?SYN_SCOPE}, ?SYN_GROUPS}]);
        false ->
            ok
    end,
    Tables.

options(?SWARM) -> [set, {keypos, 2}];
options(?SYN_GROUPS) -> [ordered_set];
options(_) -> [set].

%% Device Index was shown from claim Before (none: absent) and is now shown from After: rewrites
%% its row in every table. A key that holds the pid (syn's groups) is deleted when it changes.
show(_Tables, _Index, Same, Same) ->
    ok;
show(Tables, Index, Before, After) ->
    lists:foreach(
      fun(Table) ->
              Old = case Before of
                        none -> none;
                        _ -> key(Table, Index, Before)
                    end,
              case After of
                  none ->
                      Old =:= none orelse ets:delete(Table, Old);
                  _ ->
                      Old =:= none orelse Old =:= key(Table, Index, After)
                          orelse ets:delete(Table, Old),
                      ets:insert(Table, row(Table, Index, After))
              end
      end, Tables).

key(?SWARM, Index, _) -> device_name(Index);
key(?HORDE_KEYS, Index, _) -> {device, Index};
key(?SYN_NAMES, Index, _) -> device_name(Index);
key(?SYN_GROUPS, Index, {Pid, _, _, _}) -> {{tenant, tenant(Index)}, Pid}.

row(?SWARM, Index, {Pid, Ref, Clock, _Time}) ->
    Name = device_name(Index),
    Tenant = tenant(Index),
    {entry, Name, Pid, Ref, #{mfa => {myapp_device, init, [Name, Index, Tenant]}, tenant => Tenant},
     Clock};
row(?HORDE_KEYS, Index, {Pid, _, _, _}) ->
    %% Horde's member is {RegistryName, node()} of the registry that registered the key.
    {{device, Index}, {?HORDE_REGISTRY, node(Pid)}, {Pid, nil}};
row(?SYN_NAMES, Index, {Pid, Ref, _, Time}) ->
    {device_name(Index), Pid, undefined, Time, local_ref(Pid, Ref), node(Pid)};
row(?SYN_GROUPS, Index, {Pid, Ref, _, Time}) ->
    {{{tenant, tenant(Index)}, Pid}, undefined, Time, local_ref(Pid, Ref), node(Pid)}.

local_ref(Pid, Ref) when node(Pid) =:= node() -> Ref;
local_ref(_Pid, _Ref) -> undefined.

%% Removes every row whose pid lives on Node (a node that went down can host nothing).
drop_node(Tables, Node) ->
    [ets:select_delete(Table, [{pattern(Table), [{'==', {node, '$1'}, Node}], [true]}])
     || Table <- Tables],
    ok.

%% Match patterns binding the row's pid to '$1'.
pattern(?SWARM) -> {entry, '_', '$1', '_', '_', '_'};
pattern(?HORDE_KEYS) -> {'_', '_', {'$1', '_'}};
pattern(?SYN_NAMES) -> {'_', '$1', '_', '_', '_', '_'};
pattern(?SYN_GROUPS) -> {{'_', '$1'}, '_', '_', '_', '_'}.

%% This node's copies of the extra backends: rows, and rows whose pid lives here (for `info`).
counts(Backends) ->
    Horde = case lists:member(horde, Backends) of
                true -> #{horde => #{names => table_size(?HORDE_KEYS), hosted => hosted(?HORDE_KEYS),
                                     gateways => myapp_gateway:count()}};
                false -> #{}
            end,
    Syn = case lists:member(syn, Backends) of
              true -> #{syn => #{names => table_size(?SYN_NAMES), hosted => hosted(?SYN_NAMES),
                                 members => table_size(?SYN_GROUPS),
                                 localMembers => hosted(?SYN_GROUPS)}};
              false -> #{}
          end,
    maps:merge(Horde, Syn).

table_size(Table) -> ets:info(Table, size).

hosted(Table) ->
    ets:select_count(Table, [{pattern(Table), [{'==', {node, '$1'}, node()}], [true]}]).

%% Devices are named as an IoT platform names them: by a string id, here <<"device-00042">>.
%% A binary is what an operator can type into the dashboard's lookup.
device_name(Index) when Index < 100000 ->
    Digits = integer_to_binary(Index),
    Pad = binary:copy(<<"0">>, 5 - byte_size(Digits)),
    <<"device-", Pad/binary, Digits/binary>>;
device_name(Index) ->
    <<"device-", (integer_to_binary(Index))/binary>>.

tenant(Index) -> Index rem application:get_env(myapp, tenants, 10).
