import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { generateCertificates } from '@/server/sandbox/certs';

import { makeCookieFile, startBeamNode, type BeamNode } from '../../support/beam';

/** Polls `check` until it returns true, for at most `timeoutMs`. */
async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pids of running emulators whose command line names `name`. */
function emulatorsNamed(name: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `beam.smp.* -name ${name}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test/support/beam', () => {
  const started: BeamNode[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(started.map((node) => node.stop()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const track = (node: BeamNode) => {
    started.push(node);
    return node;
  };

  it('starts two EPMD nodes that connect, and evaluates expressions on them', async () => {
    const cookie = `harness-${process.pid}`;
    const a = track(await startBeamNode({ name: `ha_${process.pid}@127.0.0.1`, cookie }));
    const b = track(
      await startBeamNode({
        name: `hb_${process.pid}@127.0.0.1`,
        cookie,
        connectTo: [a.name],
        evalOnStart:
          'ets:new(harness_table, [named_table, public]), ets:insert(harness_table, {k, 1})',
      }),
    );
    expect(await b.eval('nodes()')).toBe(`['${a.name}']`);
    expect(await a.eval('node()')).toBe(`'${a.name}'`);
    expect(emulatorsNamed(a.name)).toEqual([String(a.pid)]);
    expect(await b.eval('ets:info(harness_table, size)')).toBe('1');
    expect(await a.eval('erlang:system_info(otp_release)')).toBe('"25"');
    await expect(
      a.eval('erlang:binary_to_existing_atom(<<"no_such_atom_xyz">>, utf8)'),
    ).rejects.toThrow(/badarg/);
  });

  it('stops a node: the emulator process exits', async () => {
    const node = await startBeamNode({ name: `hs_${process.pid}@127.0.0.1`, cookie: 'c' });
    expect(isAlive(node.pid)).toBe(true);
    await node.stop();
    expect(isAlive(node.pid)).toBe(false);
  });

  it('kills a node at once, and stop() after that still resolves', async () => {
    const node = await startBeamNode({ name: `hk_${process.pid}@127.0.0.1`, cookie: 'c' });
    node.kill();
    await waitFor(() => !isAlive(node.pid));
    await node.stop();
  });

  it('rejects, and leaves nothing running, when evalOnStart raises', async () => {
    await expect(
      startBeamNode({
        name: `hf_${process.pid}@127.0.0.1`,
        cookie: 'c',
        evalOnStart: 'error(boom)',
      }),
    ).rejects.toThrow(/boom/);
    expect(emulatorsNamed(`hf_${process.pid}@`)).toEqual([]);
  });

  it('runs epmd-less nodes sharing one port on distinct loopback addresses', async () => {
    const cookie = 'epmdless-cookie';
    const first = track(await startBeamNode({ name: 'hl@127.0.0.2', cookie, mode: 'epmdless' }));
    const second = track(
      await startBeamNode({
        name: 'hl@127.0.0.3',
        cookie,
        mode: 'epmdless',
        port: first.port,
        connectTo: [first.name],
      }),
    );
    expect(second.port).toBe(first.port);
    expect(await first.eval('nodes()')).toBe("['hl@127.0.0.3']");
    expect(await first.eval('application:get_env(kernel, inet_dist_use_interface)')).toBe(
      '{ok,{127,0,0,2}}',
    );
  });

  it('starts an Elixir node', async () => {
    const node = track(
      await startBeamNode({ name: `hx_${process.pid}@127.0.0.1`, cookie: 'c', elixir: true }),
    );
    expect(await node.eval("'Elixir.System':version()")).toMatch(/^<<"1\.\d+\.\d+">>$/);
  });

  it('runs TLS distribution with verify_peer both ways', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'beamscope-harness-tls-'));
    dirs.push(dir);
    const certs = await generateCertificates(dir, {
      commonName: 'beamscope-test-node',
      ipAddresses: ['127.0.0.1'],
      // OTP 25 checks a peer dialled by IP as a DNS name: see BeamNodeOptions.tls.
      dnsNames: ['localhost', '127.0.0.1'],
    });
    const tls = { caFile: certs.caFile, certFile: certs.certFile, keyFile: certs.keyFile };
    const cookie = 'tls-cookie';
    const a = track(await startBeamNode({ name: `ht_${process.pid}@127.0.0.1`, cookie, tls }));
    const b = track(
      await startBeamNode({
        name: `hu_${process.pid}@127.0.0.1`,
        cookie,
        tls,
        connectTo: [a.name],
      }),
    );
    expect(await a.eval('nodes()')).toBe(`['${b.name}']`);
    expect(await a.eval('init:get_argument(proto_dist)')).toBe('{ok,[["inet_tls"]]}');
  });

  it('writes a cookie file readable only by its owner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'beamscope-harness-cookie-'));
    dirs.push(dir);
    const file = await makeCookieFile(dir, 'secret-cookie');
    expect(await readFile(file, 'utf8')).toBe('secret-cookie');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
