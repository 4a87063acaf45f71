import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectNode } from '@/server/erlang/connect';
import { defaultLocalNodeName } from '@/server/erlang/node-name';
import { generateCertificates } from '@/server/sandbox/certs';

import { makeCookieFile, startBeamNode, type BeamNode } from '../support/beam';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The project's own Node 22 (the `node` devDependency), as `npx beamscope` would use.
const NODE = join(ROOT, 'node_modules/.bin/node');
const LAUNCHER = join(ROOT, 'bin/beamscope.mjs');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `beamscope probe ...` as a real process. */
function beamscope(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      [LAUNCHER, 'probe', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 25_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

describe('beamscope probe', () => {
  const cookie = `cli-${randomBytes(8).toString('hex')}`;
  const suffix = `${process.pid}`;
  const registry = 'Beamscope.CliRegistry';
  let dir: string;
  let cookieFile: string;
  let a: BeamNode;
  let b: BeamNode;
  const nodes: BeamNode[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-cli-probe-'));
    cookieFile = await makeCookieFile(dir, cookie);
    a = await startBeamNode({ name: `cli_a_${suffix}@127.0.0.1`, cookie });
    nodes.push(a);
    b = await startBeamNode({
      name: `cli_b_${suffix}@127.0.0.1`,
      cookie,
      elixir: true,
      connectTo: [a.name],
      evalOnStart:
        `beamscope_fixture:global_names("cli_b", 3), beamscope_fixture:pg_groups("cli_grp", 2, 2), ` +
        `beamscope_fixture:elixir_registry('Elixir.${registry}', 4)`,
    });
    nodes.push(b);
    // :global merges the two nodes' names asynchronously after they connect.
    const deadline = Date.now() + 10_000;
    while ((await a.eval('length(global:registered_names())')) !== '3' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints JSON with the connected nodes, process count and registry counts the nodes report', async () => {
    const result = await beamscope([a.name, '--cookie-file', cookieFile, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.node).toBe(a.name);
    expect(report.otpRelease).toBe('25');
    expect(report.connectedNodes).toContain(b.name);
    expect(report.processCount).toBeGreaterThan(0);
    expect(report.memory.total).toBeGreaterThan(0);
    expect(report.registries.global).toEqual({
      status: 'present',
      names: Number(await a.eval('length(global:registered_names())')),
      // Every :global name here was registered by processes on b.
      hostedHere: Number(
        await a.eval(
          'length([N || N <- global:registered_names(), node(global:whereis_name(N)) =:= node()])',
        ),
      ),
    });

    const onB = JSON.parse(
      (
        await beamscope(
          [b.name, '--cookie-env', 'PROBE_COOKIE', '--registry', registry, '--json'],
          {
            PROBE_COOKIE: cookie,
          },
        )
      ).stdout,
    );
    expect(onB.connectedNodes).toEqual([a.name]);
    expect(onB.elixirVersion).toMatch(/^1\.\d+/);
    expect(onB.registries.pg).toMatchObject({
      status: 'present',
      groups: Number(await b.eval('length(pg:which_groups())')),
      members: Number(
        await b.eval('lists:sum([length(pg:get_members(G)) || G <- pg:which_groups()])'),
      ),
    });
    expect(onB.registries.elixirRegistries).toEqual([
      {
        name: registry,
        status: 'present',
        keys: Number(await b.eval(`'Elixir.Registry':count('Elixir.${registry}')`)),
      },
    ]);
  });

  it('prints a readable table without --json', async () => {
    const result = await beamscope([b.name, '--cookie-file', cookieFile, '--registry', registry]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^node +${b.name}$`, 'm'));
    expect(result.stdout).toMatch(/^connected +cli_a_/m);
    // b's one visible link (to a), its counters, its port queue read, and the busy limit.
    expect(result.stdout).toMatch(
      /^links +cli_a_\S+ in \d+ \/ out \d+ packets, queue 0 B \(busy limit 1048576 B\)$/m,
    );
    expect(result.stdout).toMatch(
      new RegExp(`^Registry ${registry.replace('.', '\\.')} +4 keys$`, 'm'),
    );
    expect(result.stdout).toMatch(/^:global +3 names, 3 hosted here$/m);
    expect(result.stdout).not.toContain(cookie);
  });

  it('exits 2 naming the node and its cookie when the cookie is wrong, without printing it', async () => {
    const wrong = await makeCookieFile(dir, 'not-the-right-cookie');
    const result = await beamscope([a.name, '--cookie-file', wrong]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(a.name);
    expect(result.stderr).toMatch(/cookie/);
    expect(result.stdout + result.stderr).not.toContain('not-the-right-cookie');
    expect(result.stdout + result.stderr).not.toContain(cookie);
  });

  it('exits 3 saying EPMD does not know the node, or that nothing listens on the port', async () => {
    const unknown = await beamscope([
      `cli_nobody_${suffix}@127.0.0.1`,
      '--cookie-file',
      cookieFile,
    ]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/EPMD/);

    const noEpmd = await beamscope([
      a.name,
      '--cookie-file',
      cookieFile,
      '--epmd-port',
      String(await closedPort()),
    ]);
    expect(noEpmd.code).toBe(3);
    expect(noEpmd.stderr).toMatch(/EPMD/i);

    const port = await closedPort();
    const noDist = await beamscope([a.name, '--cookie-file', cookieFile, '--port', String(port)]);
    expect(noDist.code).toBe(3);
    expect(noDist.stderr).toContain(String(port));
    expect(noDist.stderr).not.toMatch(/EPMD/);
  });

  it('probes an epmd-less node through --port', async () => {
    const epmdless = await startBeamNode({
      name: `cli_e_${suffix}@127.0.0.1`,
      cookie,
      mode: 'epmdless',
    });
    nodes.push(epmdless);
    const result = await beamscope([
      epmdless.name,
      '--cookie-file',
      cookieFile,
      '--port',
      String(epmdless.port),
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ node: epmdless.name, otpRelease: '25' });
  });

  it('probes a node over TLS distribution', async () => {
    const certs = await generateCertificates(join(dir, 'tls'), {
      commonName: 'cli-probe-node',
      ipAddresses: ['127.0.0.1'],
      dnsNames: ['localhost', '127.0.0.1'],
    });
    const tlsNode = await startBeamNode({
      name: `cli_t_${suffix}@127.0.0.1`,
      cookie,
      tls: { caFile: certs.caFile, certFile: certs.certFile, keyFile: certs.keyFile },
    });
    nodes.push(tlsNode);
    const result = await beamscope([
      tlsNode.name,
      '--cookie-file',
      cookieFile,
      '--tls-ca',
      certs.caFile,
      '--tls-cert',
      certs.clientCertFile,
      '--tls-key',
      certs.clientKeyFile,
      '--json',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).node).toBe(tlsNode.name);
  });

  it('connects under one stable name per host, so repeated runs leave no atom behind', async () => {
    const atomCount = async () => Number(await a.eval('erlang:system_info(atom_count)'));
    const first = await beamscope([a.name, '--cookie-file', cookieFile, '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).localName).toBe(defaultLocalNodeName('cli'));
    const before = await atomCount();
    for (let run = 0; run < 3; run += 1) {
      expect((await beamscope([a.name, '--cookie-file', cookieFile])).code).toBe(0);
    }
    expect(await atomCount()).toBe(before);
    // Not vacuous: a run under a name the node has not seen leaves exactly that name behind.
    const fresh = `beamscope_maint_${randomBytes(4).toString('hex')}@127.0.0.1`;
    expect((await beamscope([a.name, '--cookie-file', cookieFile, '--name', fresh])).code).toBe(0);
    expect(await atomCount()).toBe(before + 1);
  });

  it("leaves another process's connection under the same name alone, and says so", async () => {
    const name = defaultLocalNodeName('cli');
    // The previous runs' connections must be gone from the node's side first.
    const deadline = Date.now() + 10_000;
    while ((await a.eval('nodes(hidden)')).includes(name) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const held = await connectNode(a.name, { localName: name, cookie });
    try {
      const result = await beamscope([a.name, '--cookie-file', cookieFile]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`node ${a.name} already has a connection from ${name}`);
      expect(result.stderr).toContain('_maint_');
      // The holder's connection survived: the run answered "false", not "take it over".
      expect(await held.rpc('erlang', 'node', [])).toBeDefined();
      expect(held.closeReason).toBeUndefined();
    } finally {
      held.close();
    }
  });

  it("refuses a --name that Swarm's tracker would put in its hash ring", async () => {
    const result = await beamscope([
      a.name,
      '--cookie-file',
      cookieFile,
      '--name',
      `observer@127.0.0.1`,
    ]);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain("would enter Swarm's hash ring");
  });

  it('rejects bad usage with exit 64', async () => {
    expect((await beamscope([a.name])).code).toBe(64);
    expect(
      (await beamscope([a.name, '--cookie-file', cookieFile, '--tls-ca', 'ca.pem'])).code,
    ).toBe(64);
    expect((await beamscope(['not a node', '--cookie-file', cookieFile])).code).not.toBe(0);
    const mismatched = await beamscope([
      a.name,
      '--cookie-file',
      cookieFile,
      '--address-map',
      '10.244.0.0/16=127.0.0.0/8',
    ]);
    expect(mismatched.code).toBe(64);
    expect(mismatched.stderr).toContain(
      "--address-map takes FROM=TO networks, like 10.244.0.0/16=127.0.0.0/16 (got '10.244.0.0/16=127.0.0.0/8': expected networks of the same size",
    );
  });
});
