%% A small, strict JSON decoder (RFC 8259) for the demo app: OTP 25 has no json module, and the
%% app only needs to read Kubernetes API responses. Objects decode to maps with binary keys,
%% arrays to lists, strings to UTF-8 binaries, numbers to integers or floats, and the literals
%% to the atoms true, false and null.
-module(myapp_json).
-export([decode/1]).

-spec decode(binary()) -> {ok, term()} | {error, term()}.
decode(Bin) when is_binary(Bin) ->
    try
        {Value, Rest} = value(skip_ws(Bin)),
        case skip_ws(Rest) of
            <<>> -> {ok, Value};
            _ -> {error, trailing_data}
        end
    catch
        throw:Reason -> {error, Reason};
        error:Reason -> {error, {invalid_json, Reason}}
    end.

skip_ws(<<C, Rest/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> skip_ws(Rest);
skip_ws(Bin) -> Bin.

value(<<${, Rest/binary>>) -> object(skip_ws(Rest), #{});
value(<<$[, Rest/binary>>) -> array(skip_ws(Rest), []);
value(<<$", Rest/binary>>) -> string(Rest, []);
value(<<"true", Rest/binary>>) -> {true, Rest};
value(<<"false", Rest/binary>>) -> {false, Rest};
value(<<"null", Rest/binary>>) -> {null, Rest};
value(<<C, _/binary>> = Bin) when C =:= $-; C >= $0, C =< $9 -> number(Bin);
value(<<>>) -> throw(unexpected_end);
value(<<C, _/binary>>) -> throw({unexpected_character, C}).

object(<<$}, Rest/binary>>, Acc) when map_size(Acc) =:= 0 -> {Acc, Rest};
object(<<$", Rest/binary>>, Acc) ->
    {Key, AfterKey} = string(Rest, []),
    case skip_ws(AfterKey) of
        <<$:, AfterColon/binary>> ->
            {Value, AfterValue} = value(skip_ws(AfterColon)),
            Next = Acc#{Key => Value},
            case skip_ws(AfterValue) of
                <<$,, More/binary>> -> object_key(skip_ws(More), Next);
                <<$}, More/binary>> -> {Next, More};
                _ -> throw(expected_comma_or_brace)
            end;
        _ ->
            throw(expected_colon)
    end;
object(_, _) -> throw(expected_key).

object_key(<<$", _/binary>> = Bin, Acc) -> object(Bin, Acc);
object_key(_, _) -> throw(expected_key).

array(<<$], Rest/binary>>, []) -> {[], Rest};
array(Bin, Acc) ->
    {Value, AfterValue} = value(Bin),
    case skip_ws(AfterValue) of
        <<$,, More/binary>> -> array(skip_ws(More), [Value | Acc]);
        <<$], More/binary>> -> {lists:reverse([Value | Acc]), More};
        _ -> throw(expected_comma_or_bracket)
    end.

%% Acc holds binaries and code points in reverse; converted once at the closing quote.
string(<<$", Rest/binary>>, Acc) ->
    {unicode:characters_to_binary(lists:reverse(Acc)), Rest};
string(<<$\\, Rest/binary>>, Acc) -> escape(Rest, Acc);
string(<<C, _/binary>>, _) when C < 16#20 -> throw(control_character_in_string);
string(Bin, Acc) ->
    case plain_run(Bin, 0) of
        0 ->
            case Bin of
                <<>> -> throw(unterminated_string);
                _ -> throw(invalid_utf8)
            end;
        Len ->
            <<Run:Len/binary, Rest/binary>> = Bin,
            string(Rest, [Run | Acc])
    end.

%% Length of the prefix without quotes, backslashes or control characters (valid UTF-8 only).
plain_run(Bin, N) ->
    case Bin of
        <<_:N/binary, C, _/binary>> when C =/= $", C =/= $\\, C >= 16#20, C < 16#80 ->
            plain_run(Bin, N + 1);
        <<_:N/binary, C/utf8, _/binary>> when C >= 16#80 ->
            plain_run(Bin, N + byte_size(<<C/utf8>>));
        _ ->
            N
    end.

escape(<<$", Rest/binary>>, Acc) -> string(Rest, [$" | Acc]);
escape(<<$\\, Rest/binary>>, Acc) -> string(Rest, [$\\ | Acc]);
escape(<<$/, Rest/binary>>, Acc) -> string(Rest, [$/ | Acc]);
escape(<<$b, Rest/binary>>, Acc) -> string(Rest, [$\b | Acc]);
escape(<<$f, Rest/binary>>, Acc) -> string(Rest, [$\f | Acc]);
escape(<<$n, Rest/binary>>, Acc) -> string(Rest, [$\n | Acc]);
escape(<<$r, Rest/binary>>, Acc) -> string(Rest, [$\r | Acc]);
escape(<<$t, Rest/binary>>, Acc) -> string(Rest, [$\t | Acc]);
escape(<<$u, H:4/binary, $\\, $u, L:4/binary, Rest/binary>>, Acc) ->
    High = hex(H),
    Low = hex(L),
    if
        High >= 16#D800, High =< 16#DBFF, Low >= 16#DC00, Low =< 16#DFFF ->
            string(Rest, [16#10000 + ((High - 16#D800) bsl 10) + (Low - 16#DC00) | Acc]);
        true ->
            string(<<$\\, $u, L/binary, Rest/binary>>, [code_point(High) | Acc])
    end;
escape(<<$u, H:4/binary, Rest/binary>>, Acc) -> string(Rest, [code_point(hex(H)) | Acc]);
escape(_, _) -> throw(invalid_escape).

code_point(C) when C >= 16#D800, C =< 16#DFFF -> throw(lone_surrogate);
code_point(C) -> C.

hex(Digits) ->
    case io_lib:fread("~16u", binary_to_list(Digits)) of
        {ok, [N], []} -> N;
        _ -> throw(invalid_unicode_escape)
    end.

number(Bin) ->
    {IntPart, AfterInt} = integer_part(Bin),
    {FracPart, AfterFrac} = fraction(AfterInt),
    {ExpPart, Rest} = exponent(AfterFrac),
    Text = <<IntPart/binary, FracPart/binary, ExpPart/binary>>,
    case {FracPart, ExpPart} of
        {<<>>, <<>>} ->
            {binary_to_integer(Text), Rest};
        {<<>>, _} ->
            %% binary_to_float needs a fraction: 1e5 -> 1.0e5.
            {binary_to_float(<<IntPart/binary, ".0", ExpPart/binary>>), Rest};
        _ ->
            {binary_to_float(Text), Rest}
    end.

integer_part(<<$-, Rest/binary>>) ->
    {Digits, After} = int_digits(Rest),
    {<<$-, Digits/binary>>, After};
integer_part(Bin) -> int_digits(Bin).

int_digits(<<$0, Rest/binary>>) -> {<<$0>>, Rest};
int_digits(<<C, _/binary>> = Bin) when C >= $1, C =< $9 -> digits(Bin, 0);
int_digits(_) -> throw(invalid_number).

digits(Bin, N) ->
    case Bin of
        <<_:N/binary, C, _/binary>> when C >= $0, C =< $9 -> digits(Bin, N + 1);
        _ when N =:= 0 -> throw(invalid_number);
        _ ->
            <<Digits:N/binary, Rest/binary>> = Bin,
            {Digits, Rest}
    end.

fraction(<<$., Rest/binary>>) ->
    {Digits, After} = digits(Rest, 0),
    {<<$., Digits/binary>>, After};
fraction(Bin) -> {<<>>, Bin}.

exponent(<<E, Rest/binary>>) when E =:= $e; E =:= $E ->
    {Sign, AfterSign} =
        case Rest of
            <<$+, R/binary>> -> {<<"+">>, R};
            <<$-, R/binary>> -> {<<"-">>, R};
            R -> {<<>>, R}
        end,
    {Digits, After} = digits(AfterSign, 0),
    {<<$e, Sign/binary, Digits/binary>>, After};
exponent(Bin) -> {<<>>, Bin}.
