import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  atom,
  BitBinary,
  decodeAtomNames,
  decodeEqualBinaries,
  decodeTerm,
  encodeTerm,
  ErlMap,
  formatTerm,
  ImproperList,
  OpaqueFun,
  Pid,
  Port,
  Reference,
  TermDecodeError,
  termEquals,
  Tuple,
  type Atom,
  type Term,
} from '@/server/erlang/codec';

import { termArbitrary } from '../../unit/erlang/codec-arbitraries';

/*
 * One `erl` process for the whole file. It speaks 4-byte length-prefixed frames over its own
 * stdin/stdout (`open_port({fd, 0, 1}, [{packet, 4}])`), so no distribution code of beamscope's is
 * involved: the node is only an oracle for `term_to_binary` / `binary_to_term`.
 *   <<1>>           → term_to_binary([{Name, term_to_binary(T, Opts)}]) for a varied corpus
 *   <<2, Bins>>     → for each binary: {ok, term_to_binary(binary_to_term(B), [{minor_version, 2}])}
 *                     or {error, Text}
 *   <<3, Pairs>>    → for each {Theirs, Mine}: binary_to_term(Mine) =:= binary_to_term(Theirs)
 * It runs distributed (epmd-less, ephemeral port) so pids and references carry a real node name
 * and creation.
 */
const ORACLE = String.raw`
logger:set_primary_config(level, none),
Self = self(),
Spawned = spawn(fun() -> receive stop -> ok end end),
Ref = make_ref(),
Alias = erlang:alias(),
Port0 = hd(erlang:ports()),
Captured = {Self, 42},
Closure = fun(X) -> {X, Captured} end,
BigMap = maps:from_list([{I, integer_to_binary(I)} || I <- lists:seq(1, 40)]),
M2 = [{minor_version, 2}],
Corpus = [
  {"pid", Self, M2}, {"spawned_pid", Spawned, M2}, {"ref", Ref, M2}, {"alias", Alias, M2},
  {"port", Port0, M2}, {"export", fun lists:map/2, M2}, {"closure", Closure, M2},
  {"small_ints", [0, 255, 256, -1, 2147483647, -2147483648, 2147483648, -2147483649], M2},
  {"bigints", [1 bsl 64, -(1 bsl 64), 1 bsl 2040, -(1 bsl 3000), (1 bsl 63) - 1], M2},
  {"floats", [1.5, -0.0, 0.0, 1.0e300, 5.0e-324, -2.5e-10, 3.141592653589793], M2},
  {"old_floats", [1.5, -2.5e-10, 1.0e300], [{minor_version, 0}]},
  {"latin1_atoms", [abc, 'é', ''], [{minor_version, 1}]},
  {"utf8_atoms", ['€', 'Ünïcödé', list_to_atom(lists:duplicate(255, 8364)), 'Elixir.Foo'], M2},
  {"bitstrings", [<<1:1>>, <<1, 2, 3:5>>, <<255, 7:3>>, <<>>], M2},
  {"binaries", [<<>>, <<"hello">>, <<"héllo"/utf8>>, binary:copy(<<0, 1, 2>>, 40000)], M2},
  {"sub_binary", binary:part(binary:copy(<<"abcdef">>, 100), 3, 50), M2},
  {"strings", ["abc", "", [8364, 97], lists:duplicate(65535, $a), lists:duplicate(65536, $a)], M2},
  {"improper", [[1 | 2], [a, b | c], [<<"x">> | <<"y">>]], M2},
  {"tuples", [{}, {a}, list_to_tuple(lists:seq(1, 300))], M2},
  {"maps", [#{}, #{a => 1}, #{a => 1, <<"b">> => [2], {c} => #{d => e}}, BigMap], M2},
  {"nested", lists:foldl(fun(I, Acc) -> {I, [Acc]} end, x, lists:seq(1, 100)), M2},
  {"compressed", {lists:duplicate(1000, hello), Self}, [compressed, {minor_version, 2}]},
  {"everything", {ok, Self, Ref, Port0, #{key => [1.5, <<"v">>, "s"]}, -7, 1 bsl 100}, M2},
  {"loaded_modules", erlang:loaded(), M2},
  {"module_md5s", [erlang:get_module_info(Mod, md5) || Mod <- erlang:loaded()], M2},
  {"latin1_module_list", [abc, 'é', '', lists], [{minor_version, 1}]},
  {"utf8_module_list", ['€', 'Ünïcödé', 'Elixir.Foo', list_to_atom(lists:duplicate(255, 8364))], M2}
],
P = open_port({fd, 0, 1}, [binary, {packet, 4}, eof]),
Reply = fun(Bin) -> port_command(P, Bin) end,
Loop = fun L() ->
  receive
    {P, {data, <<1>>}} ->
      Items = [{list_to_binary(N), term_to_binary(T, O)} || {N, T, O} <- Corpus],
      Reply(term_to_binary(Items, M2)), L();
    {P, {data, <<2, Outer/binary>>}} ->
      Results = [try {ok, term_to_binary(binary_to_term(B), M2)}
                 catch C:R -> {error, iolist_to_binary(io_lib:format("~p:~p", [C, R]))} end
                 || B <- binary_to_term(Outer)],
      Reply(term_to_binary(Results, M2)), L();
    {P, {data, <<3, Outer/binary>>}} ->
      Results = [try binary_to_term(Mine) =:= binary_to_term(Theirs) catch _:_ -> false end
                 || {Theirs, Mine} <- binary_to_term(Outer)],
      Reply(term_to_binary(Results, M2)), L();
    {P, eof} -> halt(0)
  end
end,
Loop().
`;

/** A length-prefixed frame channel over the oracle's stdio, without quadratic buffering. */
class Oracle {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: ((frame: Buffer) => void) | undefined;
  private stderr = '';
  private exited: string | undefined;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.deliver();
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.on('exit', (code, signal) => (this.exited = `erl exited (${code ?? signal})`));
  }

  private deliver(): void {
    if (!this.waiter || this.buffered < 4) return;
    const all = Buffer.concat(this.chunks);
    const length = all.readUInt32BE(0);
    if (all.length < 4 + length) {
      this.chunks = [all];
      return;
    }
    const frame = all.subarray(4, 4 + length);
    this.chunks = [all.subarray(4 + length)];
    this.buffered = all.length - 4 - length;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter(frame);
  }

  /** Sends one request frame and resolves with the decoded reply term. */
  request(body: Buffer, timeoutMs = 8000): Promise<Term> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`oracle timed out; ${this.exited ?? ''} ${this.stderr}`)),
        timeoutMs,
      );
      this.waiter = (frame) => {
        clearTimeout(timer);
        resolve(decodeTerm(frame, { maxDepth: 10_000 }));
      };
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length);
      this.child.stdin.write(Buffer.concat([header, body]));
      this.deliver();
    });
  }
}

function hasMultiKeyMap(term: Term): boolean {
  if (term instanceof ErlMap) return term.entries.length > 1 || term.entries.some(hasMultiKeyMap2);
  if (term instanceof Tuple) return term.elements.some(hasMultiKeyMap);
  if (Array.isArray(term)) return term.some(hasMultiKeyMap);
  if (term instanceof ImproperList) {
    return term.elements.some(hasMultiKeyMap) || hasMultiKeyMap(term.tail);
  }
  return false;
}
function hasMultiKeyMap2(entry: readonly [Term, Term]): boolean {
  return hasMultiKeyMap(entry[0]) || hasMultiKeyMap(entry[1]);
}

const asPair = (term: Term): [string, Buffer] => {
  const [name, bytes] = (term as Tuple).elements as [Uint8Array, Uint8Array];
  return [Buffer.from(name).toString(), Buffer.from(bytes)];
};

describe('codec against a real Erlang/OTP node', () => {
  let oracle: Oracle;
  const nodeName = `codec_${process.pid}_${Date.now() % 100000}@127.0.0.1`;

  beforeAll(() => {
    const child = spawn(
      'erl',
      [
        '-noinput',
        '-name',
        nodeName,
        '-start_epmd',
        'false',
        '-erl_epmd_port',
        '0',
        '-eval',
        ORACLE,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    oracle = new Oracle(child);
  });

  afterAll(async () => {
    const child = oracle.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end(); // eof → halt(0)
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });

  it('decodes what the node sends and re-encodes it to equal terms', async () => {
    const corpus = ((await oracle.request(Buffer.from([1]))) as Term[]).map(asPair);
    expect(corpus.length).toBeGreaterThan(20);
    const pairs: Tuple[] = [];
    const seen = new Set<string>();
    for (const [name, theirs] of corpus) {
      const term = decodeTerm(theirs);
      const mine = encodeTerm(term);
      expect(termEquals(decodeTerm(mine), term), name).toBe(true);
      pairs.push(new Tuple([theirs, mine]));
      // Where OTP used the same (OTP 26+) forms, the bytes are identical.
      const canonical = ![
        'old_floats',
        'latin1_atoms',
        'latin1_module_list',
        'compressed',
      ].includes(name);
      if (canonical && !hasMultiKeyMap(term)) {
        expect(mine.equals(theirs), `${name}: ${formatTerm(term, { maxLength: 200 })}`).toBe(true);
      }
      const top = term instanceof Tuple ? term.elements : [term];
      for (const part of top) seen.add(part?.constructor?.name ?? typeof part);
    }
    const byName = new Map(corpus.map(([name, bytes]) => [name, decodeTerm(bytes)]));
    expect(byName.get('pid')).toBeInstanceOf(Pid);
    expect((byName.get('pid') as Pid).node.name).toBe(nodeName);
    expect((byName.get('pid') as Pid).creation).toBeGreaterThan(0);
    expect(byName.get('ref')).toBeInstanceOf(Reference);
    expect(byName.get('alias')).toBeInstanceOf(Reference);
    expect(byName.get('port')).toBeInstanceOf(Port);
    expect(byName.get('closure')).toBeInstanceOf(OpaqueFun);
    expect(formatTerm(byName.get('closure') as Term)).toMatch(/^#Fun<erl_eval\.\d+\.\d+>$/);
    expect((byName.get('bitstrings') as Term[])[1]).toBeInstanceOf(BitBinary);

    // The node agrees: binary_to_term(Mine) =:= binary_to_term(Theirs) for every item.
    const verdicts = (await oracle.request(
      Buffer.concat([Buffer.from([3]), encodeTerm(pairs)]),
    )) as Term[];
    expect(verdicts).toHaveLength(corpus.length);
    const disagreed = corpus.filter((_, index) => verdicts[index] !== atom('true'));
    expect(disagreed.map(([name]) => name)).toEqual([]);
  });

  it('reads module lists and md5 lists with the code scan decoders as the general one does', async () => {
    const corpus = new Map(((await oracle.request(Buffer.from([1]))) as Term[]).map(asPair));
    for (const name of ['loaded_modules', 'latin1_module_list', 'utf8_module_list']) {
      const bytes = corpus.get(name)!;
      const general = (decodeTerm(bytes) as Atom[]).map((each) => each.name);
      expect(decodeAtomNames(bytes), name).toEqual(general);
    }
    expect(decodeAtomNames(corpus.get('loaded_modules')!)).toContain('lists');
    const md5s = corpus.get('module_md5s')!;
    const general = decodeTerm(md5s) as Uint8Array[];
    const { count, bytes } = decodeEqualBinaries(md5s, 16);
    expect(count).toBe(general.length);
    expect(count).toBeGreaterThan(50);
    expect(bytes).toEqual(Buffer.concat(general));
    // The rest of the corpus is read the same or refused with a TermDecodeError, nothing else.
    for (const [name, bytes] of corpus) {
      for (const decode of [() => decodeAtomNames(bytes), () => decodeEqualBinaries(bytes, 16)]) {
        try {
          decode();
        } catch (error) {
          expect(error, name).toBeInstanceOf(TermDecodeError);
        }
      }
    }
  });

  it('encodes generated terms that the node decodes to the same terms', async () => {
    const terms = fc.sample(termArbitrary({ nodeNames: ['other@127.0.0.1', 'x@h'] }), {
      numRuns: 300,
      seed: 42,
    });
    const mine = terms.map((term) => encodeTerm(term));
    const replies = (await oracle.request(
      Buffer.concat([Buffer.from([2]), encodeTerm(mine)]),
    )) as Term[];
    expect(replies).toHaveLength(terms.length);
    let identicalBytes = 0;
    replies.forEach((reply, index) => {
      const term = terms[index] as Term;
      const [status, payload] = (reply as Tuple).elements as [Term, Uint8Array];
      const label = formatTerm(term, { maxLength: 300 });
      expect(formatTerm(status), `${label}: ${formatTerm(payload)}`).toBe('ok');
      const theirs = Buffer.from(payload);
      expect(termEquals(decodeTerm(theirs), term), label).toBe(true);
      if (!hasMultiKeyMap(term)) {
        expect(theirs.equals(mine[index] as Buffer), label).toBe(true);
        identicalBytes++;
      }
    });
    expect(identicalBytes).toBeGreaterThan(100);
  });
});
