import 'server-only';

// `beamscope sandbox VERB …`: drives a running sandbox through its control API (the one the
// dashboard's sandbox panel uses), one verb per fault or change it can induce. Each verb checks
// its arguments before it asks anything of the sandbox.

import { resolve } from 'node:path';

import { SANDBOX_APP_VERSIONS, type SandboxAppVersion } from '@/lib/api-sandbox';

import { BeamscopeError } from '../../errors';
import {
  defaultSandboxDir,
  processAlive,
  SandboxControlClient,
} from '../../sandbox/control-client';
import type { PodStatusReport } from '../../sandbox/kube-api';
import { integerOption } from '../args';
import { UsageError, type CommandIo } from '../command';

export const SERVICE = 'myapp';
/** 20 pods take 14–22 s on a 2-core machine; allow for a loaded one. */
export const READY_TIMEOUT_MS = 60_000;
export const PER_POD_TIMEOUT_MS = 3_000;
/** The pods' terminationGracePeriodSeconds: a stopping node gets this long before SIGKILL. */
export const TERMINATION_GRACE_MS = 10_000;
/**
 * How long a rolling upgrade may take: one pod at a time, each stopped (up to its grace period)
 * and its replacement started.
 */
const UPGRADE_PER_POD_MS = TERMINATION_GRACE_MS + READY_TIMEOUT_MS;

export const CONTROL_COMMANDS = [
  'status',
  'scale',
  'kill',
  'oom-kill',
  'partition',
  'heal',
  'miscookie',
  'flood',
  'ticktime',
  'app-version',
  'upgrade',
  'stop',
];

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** `version` if it is one of the demo app's releases; else a usage error naming them. */
function appVersion(version: string | undefined): SandboxAppVersion {
  const known = SANDBOX_APP_VERSIONS.find((candidate) => candidate === version);
  if (known) return known;
  throw new UsageError(
    `VERSION must be one of ${SANDBOX_APP_VERSIONS.join(', ')} (the demo app's releases), not '${version ?? ''}'`,
  );
}

/** `A,B/C,D` → [['A','B'],['C','D']]. */
function parseSides(text: string | undefined): string[][] {
  const sides = (text ?? '').split('/').map((side) =>
    side
      .split(',')
      .map((member) => member.trim())
      .filter(Boolean),
  );
  if (sides.length < 2 || sides.some((side) => side.length === 0)) {
    throw new UsageError(
      `partition takes two or more sides of pod names or IPs, like POD,POD/POD (got '${text ?? ''}')`,
    );
  }
  return sides;
}

function describePod(pod: { name: string; ip: string }): string {
  return `${pod.name} (${pod.ip})`;
}

/** Polls the sandbox until `replicas` pods are Ready and none is terminating. */
async function waitForScale(client: SandboxControlClient, replicas: number): Promise<number> {
  const deadline = Date.now() + Math.max(READY_TIMEOUT_MS, replicas * PER_POD_TIMEOUT_MS);
  for (;;) {
    const { pods } = await client.call<{ pods: PodStatusReport[] }>('GET', '/status');
    const ready = pods.filter((pod) => pod.ready && !pod.terminating).length;
    if (ready === replicas && pods.every((pod) => !pod.terminating)) return ready;
    if (Date.now() > deadline) {
      throw new BeamscopeError(
        'sandbox',
        'pods_not_ready',
        `scaled to ${replicas}, but only ${ready} pods were ready after ${Math.round(READY_TIMEOUT_MS / 1000)} s`,
      );
    }
    await sleep(250);
  }
}

/** `beamscope sandbox VERB …` (see {@link CONTROL_COMMANDS}), through the control API. */
export async function runControl(
  subcommand: string,
  args: string[],
  values: { dir?: string; restore?: boolean },
  io: CommandIo,
): Promise<number> {
  const arity: Record<string, number> = {
    scale: 1,
    kill: 1,
    'oom-kill': 1,
    partition: 1,
    miscookie: 1,
    flood: 3,
    ticktime: 2,
    'app-version': 2,
    upgrade: 1,
  };
  if (args.length !== (arity[subcommand] ?? 0)) {
    throw new UsageError(
      `sandbox ${subcommand} takes ${arity[subcommand] ?? 'no'} argument${arity[subcommand] === 1 ? '' : 's'}`,
    );
  }
  if (values.restore && subcommand !== 'miscookie') {
    throw new UsageError('--restore goes with miscookie only');
  }
  const [argument] = args;
  const replicas = subcommand === 'scale' ? integerOption('replicas', argument, 0) : 0;
  const sides = subcommand === 'partition' ? parseSides(argument) : [];
  const version =
    subcommand === 'app-version'
      ? appVersion(args[1])
      : subcommand === 'upgrade'
        ? appVersion(argument)
        : null;
  const dir = resolve(values.dir ?? defaultSandboxDir());
  const client = await SandboxControlClient.open(dir);
  const pod = encodeURIComponent(argument ?? '');
  switch (subcommand) {
    case 'status': {
      io.stdout(JSON.stringify(await client.call('GET', '/status')) + '\n');
      return 0;
    }
    case 'scale': {
      await client.call('POST', '/scale', { replicas });
      const ready = await waitForScale(client, replicas);
      io.stdout(`scaled ${SERVICE} to ${replicas} pods, ${ready} ready\n`);
      return 0;
    }
    case 'kill': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/kill`,
      );
      io.stdout(`killed the node of pod ${describePod(reply.pod)}; it restarts after a back-off\n`);
      return 0;
    }
    case 'oom-kill': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/oom-kill`,
      );
      io.stdout(
        `OOM-killed the node of pod ${describePod(reply.pod)} (OOMKilled, exit code 137); it restarts after a back-off\n`,
      );
      return 0;
    }
    case 'partition': {
      const reply = await client.call<{ sides: string[][] }>('POST', '/partition', { sides });
      io.stdout(`partitioned: ${reply.sides.map((side) => side.join(',')).join(' / ')}\n`);
      return 0;
    }
    case 'heal': {
      await client.call('POST', '/heal');
      io.stdout('healed: every partition is gone, the nodes mesh again\n');
      return 0;
    }
    case 'miscookie': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/miscookie`,
        { restore: values.restore === true },
      );
      io.stdout(
        values.restore
          ? `pod ${describePod(reply.pod)} restarted with the cluster's cookie\n`
          : `pod ${describePod(reply.pod)} restarted with a wrong cookie: it will not join\n`,
      );
      return 0;
    }
    case 'flood': {
      const seconds = integerOption('seconds', args[2], 0, 0);
      const reply = await client.call<{ from: string; to: string }>('POST', `/pods/${pod}/flood`, {
        to: args[1],
        seconds,
      });
      io.stdout(
        seconds === 0
          ? `pod ${reply.from} stopped flooding\n`
          : `pod ${reply.from} floods its link to ${reply.to} for ${seconds} s\n`,
      );
      return 0;
    }
    case 'ticktime': {
      const seconds = integerOption('seconds', args[1], 60, 5);
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/ticktime`,
        { seconds },
      );
      io.stdout(`pod ${describePod(reply.pod)} now runs with net_ticktime ${seconds} s\n`);
      return 0;
    }
    case 'app-version': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/app-version`,
        { version },
      );
      io.stdout(`pod ${describePod(reply.pod)} restarted on myapp ${version}\n`);
      return 0;
    }
    case 'upgrade': {
      const { pods: before } = await client.call<{ pods: PodStatusReport[] }>('GET', '/status');
      const replicas = before.filter((entry) => !entry.terminating).length;
      // Answered once the last new pod is Ready; the old ones may still be stopping.
      await client.call(
        'POST',
        '/upgrade',
        { version },
        Math.max(120_000, replicas * UPGRADE_PER_POD_MS),
      );
      const ready = await waitForScale(client, replicas);
      io.stdout(`rolled every pod out on myapp ${version}: ${ready} pods ready\n`);
      return 0;
    }
    case 'stop': {
      await client.call('POST', '/stop');
      const deadline = Date.now() + TERMINATION_GRACE_MS + 30_000;
      while (processAlive(client.state.pid)) {
        if (Date.now() > deadline) {
          throw new BeamscopeError(
            'sandbox',
            'stop_timeout',
            `the sandbox in ${dir} (pid ${client.state.pid}) is still running`,
          );
        }
        await sleep(100);
      }
      io.stdout(`stopped the sandbox in ${dir}\n`);
      return 0;
    }
  }
  throw new UsageError(`unknown sandbox subcommand '${subcommand}'`);
}
