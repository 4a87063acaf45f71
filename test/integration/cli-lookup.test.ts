/**
 * `beamscope lookup` end to end: the real launcher against a sandbox whose 3 pods are real BEAM
 * nodes registering every device in Swarm-, Horde- and syn-layout tables (docs/sandbox.md).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RegistryLookupResponse } from '@/lib/api';

import { runBeamscope as beamscope, startCliSandbox, type CliSandbox } from '../support/cli';

let dir: string;
let sandbox: CliSandbox | undefined;
let config: string;

/** `beamscope lookup NAME --json` until every entry's copies agree (the devices settle first). */
async function lookupSettled(name: string): Promise<RegistryLookupResponse> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { code, stdout, stderr } = await beamscope([
      'lookup',
      name,
      '--config',
      config,
      '--json',
    ]);
    expect(stderr).toBe('');
    const answer = JSON.parse(stdout) as RegistryLookupResponse;
    const settled =
      code === 0 &&
      answer.nodes.length === 3 &&
      answer.entries.every((entry) => !entry.disagree && entry.views[0]!.nodes.length === 3);
    if (settled || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-cli-lookup-'));
  sandbox = await startCliSandbox(join(dir, 'sandbox'), { pods: 3, devices: 100 });
  config = sandbox.config;
}, 60_000);

afterAll(async () => {
  await sandbox?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('beamscope lookup', () => {
  let host: string;

  it('names the node hosting device-00042: every copy of Swarm and syn agrees on it', async () => {
    const answer = await lookupSettled('device-00042');
    expect(answer.found).toBe(true);
    expect(answer.entries.map((entry) => [entry.label, entry.key, entry.disagree])).toEqual([
      ['Swarm', '<<"device-00042">>', false],
      ['syn devices', '<<"device-00042">>', false],
    ]);
    const hosts = answer.entries.map((entry) => entry.views[0]!.host?.node);
    expect(new Set(hosts).size).toBe(1);
    host = hosts[0]!;
    expect(host).toMatch(/^myapp@10\.244\.0\.[234]$/);

    const { code, stdout, stderr } = await beamscope([
      'lookup',
      'device-00042',
      '--config',
      config,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    const quoted = host.replace(/\./g, '\\.');
    expect(lines[0]).toMatch(
      new RegExp(`^Swarm <<"device-00042">>: all 3 copies agree: <0\\.\\d+\\.\\d+> on ${quoted}$`),
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^  <0\\.\\d+\\.\\d+> on ${quoted} — held by myapp@10\\.244\\.0\\.2, myapp@10\\.244\\.0\\.3, myapp@10\\.244\\.0\\.4$`,
      ),
    );
    expect(lines[2]).toMatch(
      new RegExp(`^syn devices <<"device-00042">>: all 3 copies agree: .* on ${quoted}$`),
    );
  });

  it("finds the same device by Horde's tuple key, typed in Elixir syntax", async () => {
    const answer = await lookupSettled('{:device, 42}');
    expect(answer.readAs).toBe('term');
    expect(answer.entries.map((entry) => [entry.label, entry.keyType, entry.key])).toEqual([
      ['Horde MyApp.DeviceRegistry', 'tuple', '{device,42}'],
    ]);
    expect(answer.entries[0]!.views[0]!.host).toEqual({ node: host, status: 'connected' });
  });

  it('exits 1 when the name is registered nowhere, saying what it tried', async () => {
    const { code, stdout } = await beamscope(['lookup', 'device-99999', '--config', config]);
    expect(code).toBe(1);
    expect(stdout).toBe(
      `device-99999: registered nowhere (3 nodes asked; tried <<"device-99999">>, "device-99999", 'device-99999')\n`,
    );
  });

  it('fails with the usage and exit 64 on a missing name, two names or malformed term syntax', async () => {
    const usage =
      'usage: beamscope lookup NAME [--config FILE] [--cluster ID] [--json] [--timeout SECONDS]\n';
    const missing = await beamscope(['lookup', '--config', config]);
    expect(missing).toMatchObject({ code: 64, stdout: '' });
    expect(missing.stderr).toBe(`beamscope lookup: give the name to look up\n${usage}`);
    expect((await beamscope(['lookup', 'a', 'b', '--config', config])).code).toBe(64);
    const malformed = await beamscope(['lookup', '{:device, 42', '--config', config]);
    expect(malformed.code).toBe(64);
    expect(malformed.stderr).toMatch(/^beamscope lookup: not Elixir or Erlang term syntax .*"}"/);
  });
});
