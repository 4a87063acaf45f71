import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectNode, type NodeConnection } from '@/server/erlang';
import { lookupName, type RpcFunction } from '@/server/erlang/probes';
import { sandboxActionSchema } from '@/server/http/dashboard';

import { startBeamNode, type BeamNode } from '../../support/beam';

const root = join(import.meta.dirname, '..', '..', '..');

/** Names a route must never take: they would make the dashboard a remote code runner. */
const FORBIDDEN =
  /^(module|mod|function|func|fun|fn|mfa|args|arguments|argv|m|f|a|code|eval|expr)$/i;

/** Every source file under `dir` (relative to the project, with `/`), skipping build output. */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(ts|tsx|mts|mjs|js)$/.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .filter((file) => !/(^|\/)(node_modules|\.next)\//.test(file))
    .sort();
}

const read = (file: string) => readFile(join(root, file), 'utf8');

/** The literal query parameter names a source reads (`searchParams.get('x')`, `params.getAll('x')`…). */
function queryParameters(text: string): string[] {
  const found = text.matchAll(
    /\b(?:searchParams|params)\.(?:get|getAll|has)\(\s*['"`]([^'"`]+)['"`]/g,
  );
  return [...found].map((match) => match[1]!);
}

describe('read-only by construction: what the routes accept', () => {
  it('has exactly the reviewed route handlers, with their path parameters', async () => {
    const routes = (await sources('app/api')).filter((file) => file.endsWith('/route.ts'));
    expect(routes).toEqual([
      // GET: a summary event's full lists, a page at a time (`offset`, `limit`).
      'app/api/clusters/[id]/events/[seq]/route.ts',
      'app/api/clusters/[id]/events/route.ts',
      // GET: where the history is kept, its state and the span it holds (no input).
      'app/api/clusters/[id]/history/route.ts',
      // GET: a node's recorded series (`from`, `to`: moments, server/http/history-params.ts).
      'app/api/clusters/[id]/nodes/[node]/history/route.ts',
      'app/api/clusters/[id]/nodes/[node]/route.ts',
      // GET: compares the copies of the registries now (fixed read-only calls, no input).
      'app/api/clusters/[id]/registries/route.ts',
      'app/api/clusters/[id]/registry/route.ts',
      // GET: the snapshot, or with `at` (a moment) the state rebuilt from the history.
      'app/api/clusters/[id]/route.ts',
      // GET: a page of the recorded timeline (`from`, `to`, `kind`, `node`, `cursor`, `limit`,
      // `order`: each checked against its closed form in server/http/history-params.ts).
      'app/api/clusters/[id]/timeline/route.ts',
      'app/api/clusters/route.ts',
      'app/api/healthz/route.ts',
      'app/api/metrics/route.ts',
      'app/api/sandbox/route.ts',
      // POST only: the sign-out form (no body read).
      'app/api/session/end/route.ts',
      // GET: the OIDC provider's redirect back (its whole query goes to openid-client, which
      // checks code, state and iss against the sign-in this browser started; no body read).
      'app/api/session/oidc/callback/route.ts',
      // GET: starts an OIDC sign-in (`next`, a path on this site: safeNext).
      'app/api/session/oidc/route.ts',
      // POST: the sign-in (server/auth/sign-in.ts reads `token` and `next`); DELETE: sign-out.
      'app/api/session/route.ts',
    ]);
    const pathParameters = routes.flatMap((file) =>
      [...file.matchAll(/\[([^\]]+)\]/g)].map((match) => match[1]!),
    );
    expect([...new Set(pathParameters)].sort()).toEqual(['id', 'node', 'seq']);
    for (const name of pathParameters) expect(name).not.toMatch(FORBIDDEN);
    for (const file of routes) {
      const text = await read(file);
      // Only GET and POST handlers; reads of a request body only where reviewed.
      const methods = [...text.matchAll(/export (?:async )?function (\w+)/g)].map((m) => m[1]);
      // DELETE only for the session: signing out of a script.
      const allowed =
        file === 'app/api/session/route.ts' ? ['GET', 'POST', 'DELETE'] : ['GET', 'POST'];
      for (const method of methods) expect(allowed).toContain(method);
      if (/request\.(json|formData|text|arrayBuffer|blob)\(|request\.body\b/.test(text))
        expect(file).toBe('app/api/sandbox/route.ts');
      // Routes that hand their query to a reviewed reader in server/http (checked below).
      if (/searchParams/.test(text)) {
        expect([
          'app/api/clusters/[id]/events/[seq]/route.ts',
          'app/api/clusters/[id]/nodes/[node]/history/route.ts',
          'app/api/clusters/[id]/registry/route.ts',
          'app/api/clusters/[id]/route.ts',
          'app/api/clusters/[id]/timeline/route.ts',
        ]).toContain(file);
      }
      expect(queryParameters(text)).toEqual([]);
    }
  });

  it('reads exactly the reviewed query parameters anywhere in the server', async () => {
    const files = [
      ...(await sources('app')),
      ...(await sources('server')),
      ...(await sources('lib')),
    ];
    const read_ = new Map<string, string[]>();
    for (const file of files) {
      const names = queryParameters(await read(file));
      if (names.length > 0) read_.set(file, names);
    }
    // A new query parameter must be reviewed and added here.
    expect(Object.fromEntries(read_)).toEqual({
      // Where to go after an OIDC sign-in: a path on this site only (safeNext).
      'server/auth/oidc-routes.ts': ['next'],
      'server/http/cluster-api.ts': ['offset', 'limit', 'name'],
      // Moments, event kinds from the closed list, a node name, a cursor, a page size, an
      // order (server/http/history-params.ts); `at` switches a snapshot to the past.
      'server/http/history-api.ts': [
        'at',
        'at',
        'from',
        'to',
        'kind',
        'node',
        'cursor',
        'limit',
        'order',
        'to',
        'from',
      ],
      // `full` or `compact`, nothing else (server/http/peers-param.ts).
      'server/http/peers-param.ts': ['peers'],
      'server/http/sse.ts': ['lastEventId'],
      // The emulated Kubernetes API of the sandbox, not the dashboard: an Eviction's `dryRun`,
      // checked as a kube-apiserver checks it (`All` or refused).
      'server/sandbox/kube-api/apiserver/eviction.ts': ['dryRun'],
    });
    for (const name of [...read_.values()].flat()) expect(name).not.toMatch(FORBIDDEN);
  });

  it('takes only the reviewed sandbox actions as a request body, none with code in it', () => {
    const fields = sandboxActionSchema.options.map((option) => ({
      action: option.shape.action.value,
      fields: Object.keys(option.shape).sort(),
    }));
    expect(fields).toEqual([
      { action: 'scale', fields: ['action', 'replicas'] },
      { action: 'kill', fields: ['action', 'pod'] },
      { action: 'oom-kill', fields: ['action', 'pod'] },
      { action: 'miscookie', fields: ['action', 'pod', 'restore'] },
      { action: 'partition', fields: ['action', 'sides'] },
      { action: 'heal', fields: ['action'] },
      { action: 'app-version', fields: ['action', 'pod', 'version'] },
      { action: 'upgrade', fields: ['action', 'version'] },
    ]);
    for (const field of fields.flatMap((entry) => entry.fields))
      expect(field).not.toMatch(FORBIDDEN);
    // Unknown fields are dropped, not passed on.
    const parsed = sandboxActionSchema.parse({
      action: 'heal',
      module: 'os',
      function: 'cmd',
      args: ['id'],
    });
    expect(parsed).toEqual({ action: 'heal' });
  });

  it('calls rpc only from the distribution client, and elsewhere only to pass a probe through', async () => {
    const files = [
      ...(await sources('app')),
      ...(await sources('server')),
      ...(await sources('lib')),
      ...(await sources('components')),
      ...(await sources('bin')),
      ...(await sources('scripts')),
    ];
    const outside = new Map<string, string[]>();
    let inside = 0;
    for (const file of files) {
      const text = await read(file);
      const calls = [...text.matchAll(/^.*\.rpc\(.*$/gm)].map((match) => match[0].trim());
      if (calls.length === 0) continue;
      if (file.startsWith('server/erlang/')) inside += calls.length;
      else outside.set(file, calls);
    }
    expect(inside).toBeGreaterThan(0);
    // The collector hands each node's `manager.rpc` to the probes as their RpcFunction: the
    // module, function and arguments are the probe's own, passed through unchanged. Its thread
    // does the same for the probes and comparisons it runs, and relays the calls the collector
    // makes through that thread's manager (`ThreadedConnectionManager.rpc`), once, unchanged.
    const passThrough =
      /^(return )?(\(node\) => )?\(module, fn, args, callOptions\) =>\s*manager\.rpc\(\w+, module, fn, args, callOptions\)[,;]$/;
    expect([...outside.keys()].sort()).toEqual([
      'server/collector/collector.ts',
      'server/collector/thread/thread.ts',
    ]);
    for (const call of outside.get('server/collector/collector.ts')!)
      expect(call).toMatch(passThrough);
    const relayed = outside
      .get('server/collector/thread/thread.ts')!
      .filter((call) => !passThrough.test(call));
    expect(relayed).toEqual(['const reply = await manager.rpc(node, module, fn, decodedArgs, {']);
  });
});

describe('read-only by construction: lookups never create atoms on the node', () => {
  const cookie = `ro-${randomBytes(6).toString('hex')}`;
  const localName = `read_only_${process.pid}@127.0.0.1`;
  let node: BeamNode;
  let connection: NodeConnection;
  let rpc: RpcFunction;
  const atomCount = async () => Number(await node.eval('erlang:system_info(atom_count)'));

  beforeAll(async () => {
    node = await startBeamNode({ name: `ro_${process.pid}@127.0.0.1`, cookie });
    connection = await connectNode(node.name, { localName, cookie });
    rpc = connection.rpc.bind(connection);
  });

  afterAll(async () => {
    connection?.close();
    await node?.stop();
  });

  it('leaves the atom count unchanged over 1,000 random-name lookups', async () => {
    // A warm-up lookup, and a warm-up read, load whatever modules and atoms they need once.
    await atomCount();
    const cold = await atomCount();
    await lookupName(rpc, `warm-up-${randomBytes(8).toString('hex')}`);
    const before = await atomCount();
    const names = Array.from({ length: 1000 }, (_, index) => {
      const kind = index % 4;
      const random = randomBytes(12).toString('hex');
      if (kind === 0) return `device_${random}`;
      if (kind === 1) return `Elixir.Fake.${random}`;
      if (kind === 2) return `${random}@127.0.0.1`;
      return `näme-${random}-✓`;
    });
    for (let start = 0; start < names.length; start += 50) {
      const batch = names.slice(start, start + 50);
      const results = await Promise.all(batch.map((name) => lookupName(rpc, name)));
      for (const result of results) {
        expect(result.atomExists).toBe(false);
        expect(result.errors).toEqual([]);
        expect(result.matches).toEqual([]);
      }
    }
    const after = await atomCount();
    console.info(
      `atom count: before the warm-up lookup ${cold}, after it ${before}, after 1000 lookups ${after}`,
    );
    expect(after).toBe(before);
    // Not vacuous: creating one atom on this node, measured on the node, moves the count by one
    // (the first such expression also loads what evaluating it needs: measure the second).
    const createOne = () =>
      node.eval(
        `begin B = erlang:system_info(atom_count), _ = binary_to_atom(<<"fresh_${randomBytes(6).toString('hex')}">>, utf8), erlang:system_info(atom_count) - B end`,
      );
    await createOne();
    expect(Number(await createOne())).toBe(1);
  });

  it('leaves the atom count unchanged over 1,000 typed names: terms with unknown atoms, in both syntaxes', async () => {
    const random = () => randomBytes(8).toString('hex');
    const typed = (index: number): string => {
      const r = random();
      switch (index % 8) {
        case 0:
          return `{:unknown_${r}, ${index}}`;
        case 1:
          return `{unknown_${r}, <<"x">>, "y"}`;
        case 2:
          return `:"Elixir.Fake.${r}"`;
        case 3:
          return `'q${r}'`;
        case 4:
          return `[{:a_${r}, [:b_${r}, {:c_${r}, [:d_${r}]}]}]`;
        case 5:
          return `{Fake.M${r}, "${r}", ~c"${r}", ${index}}`;
        case 6:
          return `{device, ${index}, [nested_${r}, {deeper_${r}, '${r}'}]}`;
        default:
          return `"${r}"`;
      }
    };
    // Registry names nobody has, too: their table names are checked, never created.
    const options = (r: string) => ({
      hordeRegistries: [`Fake.Horde${r}`],
      synScopes: [`scope_${r}`],
      elixirRegistries: [`Fake.Registry${r}`],
    });
    await atomCount();
    await lookupName(rpc, `{:warm_up_${random()}, 1}`, options(random()));
    const before = await atomCount();
    const names = Array.from({ length: 1000 }, (_, index) => typed(index));
    for (let start = 0; start < names.length; start += 50) {
      const batch = names.slice(start, start + 50);
      const results = await Promise.all(
        batch.map((name) => lookupName(rpc, name, options(random()))),
      );
      for (const result of results) {
        expect(result.errors).toEqual([]);
        expect(result.matches).toEqual([]);
      }
      // Every term held at least one unknown atom: none of them was sent.
      expect(
        results.filter((result, index) => !batch[index]!.startsWith('"') && result.atomExists),
      ).toEqual([]);
    }
    const after = await atomCount();
    console.info(`atom count over 1000 typed-name lookups: before ${before}, after ${after}`);
    expect(after).toBe(before);
  });
});
