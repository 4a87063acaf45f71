import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import type { ClusterState } from '@/lib/cluster-state';
import { acceptHandshake, type HostileBehaviour } from '@/test/support/hostile-peer';

import {
  faultsMode,
  recordScenario,
  startReliabilityStack,
  type ReliabilityStack,
} from './support';

/**
 * A hostile peer as a member of the Service: a pod whose IP answers on the distribution port
 * with a correct handshake (right name, right cookie) and then garbage, an absurd frame length
 * or a frame that never ends. Its member must show why, the rest of the cluster must keep being
 * probed and pushed, and once the pod is gone the dashboard must match the truth again.
 */
const long = faultsMode() === 'long';
/** How long each hostile peer stays a member. */
const HOSTILE_MS = long ? 30_000 : 10_000;
const BEHAVIOURS: Array<{ behaviour: HostileBehaviour; what: string; reason: RegExp }> = [
  {
    behaviour: 'garbage',
    what: 'a valid handshake, then a frame that is not a distribution message',
    reason: /unexpected distribution message|malformed/,
  },
  {
    behaviour: 'huge-length',
    what: 'a valid handshake, then a frame header announcing 4 GiB',
    reason: /frame|limit/,
  },
  {
    behaviour: 'never-ending-frame',
    what: 'a valid handshake, then a 1 MiB frame trickled one byte every 50 ms, forever',
    reason: /answered no probe|sent nothing|frame|limit/,
  },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function frame4(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** What test/support/hostile-peer.ts does after the handshake, on a socket of ours. */
function misbehave(socket: Socket, behaviour: HostileBehaviour, timers: Set<NodeJS.Timeout>) {
  switch (behaviour) {
    case 'garbage':
      socket.write(frame4(Buffer.from('this is not a distribution message')));
      return;
    case 'huge-length':
      socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x70, 0x83]));
      return;
    case 'never-ending-frame': {
      socket.write(Buffer.from([0x00, 0x10, 0x00, 0x00, 0x70]));
      const timer = setInterval(() => {
        if (socket.destroyed) clearInterval(timer);
        else socket.write(Buffer.from([0x83]));
      }, 50);
      timers.add(timer);
      return;
    }
    default:
      return;
  }
}

/**
 * A hostile peer listening where a pod's node would: `ip`:`port` (the sandbox's shared
 * distribution port), answering every handshake for `name` with the cluster's cookie.
 */
async function listenHostile(options: {
  ip: string;
  name: string;
  port: number;
  cookie: string;
  behaviour: HostileBehaviour;
}): Promise<{ accepted: () => number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    void acceptHandshake(socket, { name: options.name, cookie: options.cookie }).then(
      (result) => {
        if (result.outcome !== 'accepted') return;
        accepted += 1;
        misbehave(socket, options.behaviour, timers);
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.ip, resolve);
  });
  return {
    accepted: () => accepted,
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Diff lines that do not concern `node` (whose pod is the hostile one). */
function notAbout(lines: string[], node: string, ip: string): string[] {
  return lines.filter((line) => !line.includes(node) && !line.includes(`(${ip})`));
}

describe('a hostile peer in the cluster', () => {
  let stack: ReliabilityStack;
  let distPort: number;
  let cookie: string;

  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: 3 });
    const config = parse(await readFile(stack.sandbox.config, 'utf8')) as {
      clusters: Array<{ distribution: { port: number } }>;
    };
    distPort = config.clusters[0]!.distribution.port;
    cookie = (await readFile(join(dirname(stack.sandbox.config), 'cookie'), 'utf8')).trim();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  BEHAVIOURS.forEach(({ behaviour, what, reason }, index) => {
    it(
      `${behaviour}: its member shows why, the rest keeps working, then converges`,
      async () => {
        // The pod's IP as the API lists it; the peer listens on its loopback image, where the
        // sandbox's address map (loopback mode) has beamscope dial it.
        const ip = `10.244.0.${200 + index}`;
        const node = `myapp@${ip}`;
        const pod = `hostile-${behaviour}`;
        await stack.waitForConverged(60_000);
        const peer = await listenHostile({
          ip: `127.0.0.${200 + index}`,
          name: node,
          port: distPort,
          cookie,
          behaviour,
        });
        const notes: string[] = [];
        let detectMs: number | null = null;
        let recoverMs: number | null = null;
        let diffLines: string[] = [];
        let error: string | undefined;
        const seqBefore = stack.stream.seq;
        try {
          // A pod of the Service on that IP, Ready at once (the sandbox tries to start a BEAM node
          // there too; it cannot listen, as the peer holds the port, and crash-loops meanwhile).
          const injectedAt = Date.now();
          await stack.sandbox.control('POST', '/pods', { name: pod, ip, ready: true });
          const failed = (state: ClusterState) => {
            const beam = state.members.find((member) => member.node === node)?.beam;
            return (
              !!beam &&
              beam.connection.status !== 'connected' &&
              reason.test(beam.connection.reason ?? '')
            );
          };
          detectMs = await stack.waitForStream(failed, HOSTILE_MS + 20_000, injectedAt);
          const shown = stack.stream.state().members.find((member) => member.node === node)!.beam!
            .connection;
          notes.push(`shown: ${shown.status} (${shown.code}): ${shown.reason}`);
          expect(peer.accepted()).toBeGreaterThan(0);

          // The rest keeps working: every other member connected and probed again since.
          const probedSince = Date.now();
          await sleep(Math.max(0, HOSTILE_MS - (Date.now() - injectedAt)));
          const state = stack.stream.state();
          const others = state.members.filter(
            (member) => member.node !== node && member.kubernetes,
          );
          expect(others.length).toBe(3);
          for (const member of others) {
            expect(member.beam?.connection.status, member.node!).toBe('connected');
            expect(member.beam?.probedAt ?? 0, member.node!).toBeGreaterThan(probedSince);
          }
          // …the stream kept flowing, and nothing but the hostile member differs from the truth.
          expect(stack.stream.seq).toBeGreaterThan(seqBefore);
          const rest = notAbout(await stack.check(), node, ip);
          expect(rest).toEqual([]);
        } catch (caught) {
          error = (caught as Error).message;
        } finally {
          await stack.sandbox.control('DELETE', `/pods/${pod}`).catch(() => undefined);
          await peer.stop();
        }
        const removedAt = Date.now();
        try {
          await stack.waitForStream(
            (state) => !state.members.some((member) => member.node === node),
            60_000,
          );
          await stack.waitForConverged(60_000);
          recoverMs = Date.now() - removedAt;
        } catch (caught) {
          diffLines = stack.lastDiff.length > 0 ? stack.lastDiff : [(caught as Error).message];
        }
        const lost = stack.streamLost();
        await recordScenario({
          scenario: `hostile peer: ${behaviour}`,
          injected: `a Ready pod of the Service whose address answers ${what}`,
          detectMs,
          recoverMs,
          diff: diffLines,
          lost,
          mode: faultsMode(),
          notes: [...notes, ...(error ? [`failed: ${error}`] : [])].join('; '),
        });
        expect(error).toBeUndefined();
        expect(diffLines).toEqual([]);
        expect(lost).toEqual([]);
      },
      HOSTILE_MS + 200_000,
    );
  });
});
