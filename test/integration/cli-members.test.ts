import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import type { KubernetesMember } from '@/lib/members';

import { LAUNCHER as launcher, ROOT as root, runBeamscope } from '../support/cli';
import { freePort } from '../support/ports';

let dir: string;
let sandbox: ChildProcess | undefined;
let config: string;

/** Runs `beamscope ARGS` (the real launcher, on this test's Node 22) to completion. */
const beamscope = (args: string[]) => runBeamscope(args, 25_000);

/** POSTs to the sandbox's control surface, with the credentials of the kubeconfig it wrote. */
async function control(path: string, body: object): Promise<void> {
  const kubeconfig = parse(await readFile(join(dir, 'sandbox', 'kubeconfig'), 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { user: { token: string } }[];
  };
  const { server, 'certificate-authority-data': ca } = kubeconfig.clusters[0]!.cluster;
  await new Promise<void>((resolve, reject) => {
    const outgoing = request(
      new URL(path, server),
      {
        method: 'POST',
        ca: Buffer.from(ca, 'base64'),
        headers: {
          authorization: `Bearer ${kubeconfig.users[0]!.user.token}`,
          'content-type': 'application/json',
        },
      },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 200
            ? resolve()
            : reject(new Error(`${path}: HTTP ${response.statusCode}`)),
        );
      },
    );
    outgoing.once('error', reject);
    outgoing.end(JSON.stringify(body));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-cli-members-'));
  const child = spawn(
    process.execPath,
    // Few devices and a distribution port of its own: light, and no clash with another sandbox.
    [
      launcher,
      'sandbox',
      '--pods',
      '3',
      '--devices',
      '100',
      '--dist-port',
      String(await freePort()),
      '--dir',
      join(dir, 'sandbox'),
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  sandbox = child;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = await new Promise<{ config: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sandbox not ready in 45 s: ${stderr}`)),
      45_000,
    );
    createInterface(child.stdout).on('line', (line) => {
      try {
        const message = JSON.parse(line) as { ready?: boolean; config: string };
        if (message.ready) {
          clearTimeout(timer);
          resolve(message);
        }
      } catch {
        // not the ready line
      }
    });
    child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}: ${stderr}`)));
  });
  config = ready.config;
});

afterAll(async () => {
  if (sandbox && sandbox.exitCode === null) {
    const exited = new Promise((resolve) => sandbox!.once('exit', resolve));
    sandbox.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('beamscope members', () => {
  it('lists the sandbox pods as JSON, named myapp@IP', async () => {
    expect(config).toBe(join(dir, 'sandbox', 'beamscope.yaml'));
    const { code, stdout, stderr } = await beamscope(['members', '--config', config, '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const members = JSON.parse(stdout) as KubernetesMember[];
    expect(members.map((member) => member.beamNode)).toEqual([
      'myapp@10.244.0.2',
      'myapp@10.244.0.3',
      'myapp@10.244.0.4',
    ]);
    expect(members.every((member) => member.ready && member.podName && member.k8sNode)).toBe(true);
  });

  it('prints a table by default, with BEAMSCOPE_CONFIG naming the file', async () => {
    const child = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const process_ = spawn(process.execPath, [launcher, 'members'], {
        cwd: root,
        env: { ...process.env, BEAMSCOPE_CONFIG: config },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      process_.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      process_.once('close', (code) => resolve({ code, stdout }));
    });
    expect(child.code).toBe(0);
    const lines = child.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^POD\s+IP\s+READY\s+SERVING\s+TERMINATING\s+PHASE\s+RESTARTS\s+K8S NODE\s+NODE NAME$/,
    );
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(
      /^myapp-\S+\s+10\.244\.0\.2\s+yes\s+yes\s+no\s+Running\s+0\s+sandbox-node-\d\s+myapp@10\.244\.0\.2$/,
    );
  });

  it('fails with one line and a non-zero exit on a bad config file', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'clusters:\n  - id: sandbox\n    discovery: { mode: foo, service: myapp }\n    nodeNaming: { basename: myapp }\n    distribution: { cookieFile: ./cookie }\n',
    );
    const { code, stdout, stderr } = await beamscope(['members', '--config', bad]);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `beamscope members: ${bad}: clusters[0].discovery.mode: expected one of endpointSlices, endpoints, pods (got "foo")\n`,
    );
  });

  it('fails with one line when the configuration file does not exist', async () => {
    const missing = join(dir, 'missing.yaml');
    const { code, stderr } = await beamscope(['members', '--config', missing]);
    expect(code).not.toBe(0);
    expect(stderr).toBe(
      `beamscope members: ${missing}: cannot read the configuration file: no such file\n`,
    );
  });

  it('fails with the RBAC rule in one line when EndpointSlices are forbidden', async () => {
    await control('/_sandbox/forbidden', { resource: 'endpointslices', forbidden: true });
    try {
      const { code, stdout, stderr } = await beamscope(['members', '--config', config]);
      expect(code).not.toBe(0);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        'beamscope members: RBAC forbids user "system:serviceaccount:default:beamscope" to list endpointslices (API group "discovery.k8s.io") in namespace "default": grant a Role with get, list and watch on endpointslices in API group "discovery.k8s.io"\n',
      );
    } finally {
      await control('/_sandbox/forbidden', { resource: 'endpointslices', forbidden: false });
    }
  });

  it('names every missing rule, in one order, on every run of members and doctor', async () => {
    await control('/_sandbox/forbidden', { resource: 'endpointslices', forbidden: true });
    await control('/_sandbox/forbidden', { resource: 'pods', forbidden: true });
    try {
      const members = new Set<string>();
      const doctor = new Set<string>();
      for (let run = 0; run < 3; run += 1) {
        members.add((await beamscope(['members', '--config', config])).stderr);
        const { stdout } = await beamscope(['doctor', '--config', config, '--json']);
        const { findings } = JSON.parse(stdout) as {
          findings: { subject: string; verdict: string; reason: string }[];
        };
        doctor.add(
          JSON.stringify(findings.filter((finding) => finding.subject.startsWith('kubernetes'))),
        );
      }
      const rule = (resource: string, group: string) =>
        `RBAC forbids user "system:serviceaccount:default:beamscope" to list ${resource} (${group}) in namespace "default": grant a Role with get, list and watch on ${resource} in ${group}`;
      const slices = rule('endpointslices', 'API group "discovery.k8s.io"');
      const pods = rule('pods', 'the core API group ("")');
      expect([...members]).toEqual([`beamscope members: ${slices}; ${pods}\n`]);
      expect([...doctor].map((text) => JSON.parse(text) as unknown)).toEqual([
        [
          {
            subject: 'kubernetes endpointslices',
            verdict: 'fail',
            code: 'kubernetes_error',
            reason: slices,
          },
          { subject: 'kubernetes pods', verdict: 'fail', code: 'kubernetes_error', reason: pods },
        ],
      ]);
    } finally {
      await control('/_sandbox/forbidden', { resource: 'endpointslices', forbidden: false });
      await control('/_sandbox/forbidden', { resource: 'pods', forbidden: false });
    }
  }, 120_000);
});
