import { describe, expect, it } from 'vitest';

import { decodeTerm, encodeTerm } from '@/server/erlang/codec';
import { Charlist, ExportFun, atom, tuple, type Term } from '@/server/erlang/codec/terms';
import {
  applicationModulesProbe,
  loadedModuleNames,
  loadedModulesProbe,
  md5Chunk,
  moduleMd5Probe,
  ModuleListCache,
  runningApplicationsProbe,
  scanCode,
  type RpcFunction,
} from '@/server/erlang/probes';

const md5 = (seed: number) => Buffer.alloc(16, seed);
const hex = (seed: number) => md5(seed).toString('hex');

describe('the code probes', () => {
  it('read which_applications as name and version, keeping the node’s own atoms', () => {
    const reply: Term = [
      tuple(atom('myapp'), new Charlist('demo'), new Charlist('0.2.0')),
      tuple(atom('kernel'), new Charlist('ERTS  CXC 138 10'), new Charlist('8.5.3')),
    ];
    const { applications, truncated } = runningApplicationsProbe.parse(reply);
    expect(applications.map((app) => [app.app.name, app.version])).toEqual([
      ['myapp', '0.2.0'],
      ['kernel', '8.5.3'],
    ]);
    expect(truncated).toBe(false);
    expect(() => runningApplicationsProbe.parse([tuple(atom('x'), 1)])).toThrow(/Vsn/);
  });

  it('batch get_key and get_module_info through lists:zipwith with an external fun', () => {
    const apps = [atom('myapp'), atom('gone')];
    const probe = applicationModulesProbe(apps);
    expect(probe.module).toBe('lists');
    expect(probe.fn).toBe('zipwith');
    // The fun travels as EXPORT_EXT and comes back the same: no closure, no code to load.
    const fun = decodeTerm(encodeTerm(probe.args[0]!));
    expect(fun).toEqual(new ExportFun(atom('application'), atom('get_key'), 2));
    expect(probe.args[2]).toEqual([atom('modules'), atom('modules')]);
    const modules = probe.parse([tuple(atom('ok'), [atom('myapp_app')]), atom('undefined')]);
    expect(modules.map((list) => list?.map((module) => module.name) ?? null)).toEqual([
      ['myapp_app'],
      null,
    ]);
    expect(() => probe.parse([atom('undefined')])).toThrow(/one entry per application/);

    // The md5 call's lists travel pre-encoded; on the wire they are the plain lists.
    const md5s = moduleMd5Probe(md5Chunk([atom('lists'), atom('maps')]));
    expect(md5s.encodedReply).toBe(true);
    expect(md5s.args[0]).toEqual(new ExportFun(atom('erlang'), atom('get_module_info'), 2));
    expect(decodeTerm(encodeTerm([...md5s.args]))).toEqual([
      new ExportFun(atom('erlang'), atom('get_module_info'), 2),
      [atom('lists'), atom('maps')],
      [atom('md5'), atom('md5')],
    ]);
    // The reply arrives encoded: both md5s back to back in one buffer.
    expect(md5s.parse(encodeTerm([md5(7), md5(8)]))).toEqual(Buffer.concat([md5(7), md5(8)]));
    expect(() => md5s.parse(encodeTerm([md5(7), Buffer.alloc(3)]))).toThrow(/16-byte md5/);
    expect(() => md5s.parse(encodeTerm([md5(7)]))).toThrow(/one md5 per module/);
    expect(() => md5s.parse([md5(7), md5(8)])).toThrow(/encoded list of md5s/);
    const loaded = loadedModulesProbe.parse(encodeTerm([atom('lists'), atom('myapp_app')]));
    expect(loadedModuleNames(loaded as Uint8Array)).toEqual(['lists', 'myapp_app']);
    expect(() => loadedModuleNames(encodeTerm([atom('lists'), 7]))).toThrow(/module atoms/);
  });
});

/**
 * A node as the scan sees it: two applications, modules loaded or not, md5s by module. Records
 * every call so the chunking can be checked; `failChunkWith` makes a chunk's call raise.
 */
function fakeNode(options: { failChunkWith?: string; notLoaded?: string } = {}) {
  const calls: Array<{ module: string; fn: string; args: Term[]; encoded: Buffer }> = [];
  const digests: Record<string, number> = { a1: 1, a2: 2, a3: 3, b1: 4, shared: 5 };
  // Honours `encodedReply` as the connection does: the reply's term_to_binary bytes.
  const rpc: RpcFunction = async (module, fn, args, callOptions) => {
    const reply = await answer(module, fn, args);
    return callOptions?.encodedReply ? encodeTerm(reply) : reply;
  };
  const answer = async (module: string, fn: string, sent: Term[]): Promise<Term> => {
    // What the node receives: the arguments as they travel (pre-encoded lists included).
    const encoded = encodeTerm(sent);
    const args = decodeTerm(encoded) as Term[];
    calls.push({ module, fn, args, encoded });
    if (`${module}:${fn}` === 'application:which_applications') {
      return [
        tuple(atom('b'), new Charlist('B'), new Charlist('2.0')),
        tuple(atom('a'), new Charlist('A'), new Charlist('1.0')),
      ];
    }
    if (`${module}:${fn}` === 'erlang:loaded') {
      return ['a1', 'a2', 'a3', 'b1', 'shared', 'not_in_an_app']
        .filter((name) => name !== options.notLoaded)
        .map((name) => atom(name));
    }
    const [fun, items] = args as [ExportFun, Array<{ name: string }>];
    if (fun.fun.name === 'get_key') {
      const byApp: Record<string, string[]> = {
        a: ['a1', 'a2', 'a3', 'a_not_loaded', 'shared'],
        b: ['b1', 'shared'],
      };
      return items.map((app) =>
        tuple(
          atom('ok'),
          byApp[app.name]!.map((name) => atom(name)),
        ),
      );
    }
    if (options.failChunkWith && items.some((item) => item.name === options.failChunkWith)) {
      throw new Error('badarg');
    }
    return items.map((item) => md5(digests[item.name]!));
  };
  return { rpc, calls };
}

describe('scanCode', () => {
  it('reads the loaded modules of the running applications, sorted, in bounded chunks', async () => {
    const { rpc, calls } = fakeNode();
    const result = await scanCode(rpc, { chunkSize: 2 });
    expect(result.applications).toEqual([
      { name: 'a', version: '1.0' },
      { name: 'b', version: '2.0' },
    ]);
    // Loaded and in an application; each module once, however many applications list it.
    expect(result.modules).toEqual(['a1', 'a2', 'a3', 'b1', 'shared']);
    expect(result.md5s).toEqual([1, 2, 3, 4, 5].map(hex));
    expect(result.skipped).toBe(0);
    expect(result.error).toBeNull();
    const chunks = calls.filter(
      (call) => (call.args[0] as ExportFun)?.fun?.name === 'get_module_info',
    );
    expect(chunks.map((call) => (call.args[1] as Term[]).length)).toEqual([2, 2, 1]);
  });

  it('keeps the rest of the scan when one chunk fails, and gives equal code one signature', async () => {
    const partial = await scanCode(fakeNode({ failChunkWith: 'a3' }).rpc, { chunkSize: 2 });
    expect(partial.modules).toEqual(['a1', 'a2', 'shared']);
    expect(partial.skipped).toBe(2);
    expect(partial.error?.message).toContain('badarg');
    const [first, second] = await Promise.all([
      scanCode(fakeNode().rpc, { chunkSize: 2 }),
      scanCode(fakeNode().rpc, { chunkSize: 3 }),
    ]);
    expect(first.signature).toBe(second.signature);
    expect(partial.signature).not.toBe(first.signature);
  });

  it('caps the modules it keeps', async () => {
    const result = await scanCode(fakeNode().rpc, { maxModules: 3 });
    expect(result.modules).toEqual(['a1', 'a2', 'a3']);
    expect(result.skipped).toBe(2);
  });
});

describe('scanCode with a shared cache (plans by loaded list)', () => {
  it('reads each build’s module lists once and sends later nodes the same encoded calls', async () => {
    const cache = new ModuleListCache();
    const first = fakeNode();
    const second = fakeNode();
    const one = await scanCode(first.rpc, { chunkSize: 2, moduleLists: cache });
    const two = await scanCode(second.rpc, { chunkSize: 2, moduleLists: cache });
    expect(two).toEqual(one);
    expect(two.signature).toBe((await scanCode(fakeNode().rpc, { chunkSize: 2 })).signature);
    const named = (calls: typeof first.calls, fun: string) =>
      calls.filter((call) => (call.args[0] as ExportFun | undefined)?.fun?.name === fun);
    expect(named(first.calls, 'get_key')).toHaveLength(1);
    expect(named(second.calls, 'get_key')).toHaveLength(0);
    const bytes = (calls: typeof first.calls) =>
      named(calls, 'get_module_info').map((call) => call.encoded.toString('hex'));
    expect(bytes(second.calls)).toEqual(bytes(first.calls));
  });

  it('plans again for another loaded list, and never sends a module the node did not report', async () => {
    const cache = new ModuleListCache();
    await scanCode(fakeNode().rpc, { chunkSize: 2, moduleLists: cache });
    const other = fakeNode({ notLoaded: 'a2' });
    const result = await scanCode(other.rpc, { chunkSize: 2, moduleLists: cache });
    expect(result.modules).toEqual(['a1', 'a3', 'b1', 'shared']);
    const sent = other.calls
      .filter((call) => (call.args[0] as ExportFun | undefined)?.fun?.name === 'get_module_info')
      .flatMap((call) => (call.args[1] as Array<{ name: string }>).map((item) => item.name));
    expect(sent).toEqual(['a1', 'a3', 'b1', 'shared']);
  });

  it('keeps a failed chunk out of the shared result, and the next full scan whole', async () => {
    const cache = new ModuleListCache();
    const partial = await scanCode(fakeNode({ failChunkWith: 'a3' }).rpc, {
      chunkSize: 2,
      moduleLists: cache,
    });
    expect(partial.modules).toEqual(['a1', 'a2', 'shared']);
    expect(partial.skipped).toBe(2);
    const whole = await scanCode(fakeNode().rpc, { chunkSize: 2, moduleLists: cache });
    expect(whole.modules).toEqual(['a1', 'a2', 'a3', 'b1', 'shared']);
    expect(whole.md5s).toEqual([1, 2, 3, 4, 5].map(hex));
    expect(whole.skipped).toBe(0);
  });
});
