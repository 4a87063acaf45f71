/**
 * What decoding a 1,000-node reply costs beamscope's process (issue 16: the push waits behind a
 * saturated event loop, a quarter of it young-generation collections): a peer list
 * (`erlang:nodes(visible)`, 1,000 node atoms) and a `net_kernel:nodes_info()` reply (1,000
 * entries `{Node, [{owner, Pid}, {state, up}, {address, #net_address{}}, {type, normal}, {in, N},
 * {out, N}]}` as OTP 25 answers), each decoded `--rounds` times by the codec's `decodeTerm`, and
 * each also as its probe reads it now: the peer list's names through the atom cache
 * (`decodeCachedAtomNames`), the `nodes_info` reply skimmed (`codec/skim.ts`); and the same for
 * the `dist_ctrl` reply (1,000 `{Node, Port}`) the link probe reads beside it; the loop yielding
 * between rounds as a server's does (so finalizers run as they would).
 *
 * Figures per decode: CPU time (median and p99 over rounds), bytes allocated (heap growth over
 * one decode right after a full collection, median of 20), and over the whole run the number
 * of scavenges and their total time.
 *
 * Run alone: `node_modules/.bin/node --expose-gc --import tsx --conditions=react-server
 * bench/atom-decode.ts [--rounds 2000]`.
 */
import { loadavg } from 'node:os';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import {
  atom,
  Charlist,
  decodeTerm,
  encodeTerm,
  Pid,
  Port,
  tuple,
  type Term,
} from '../server/erlang/codec';
import { distControllersProbe, nodesInfoProbe, visibleNodesProbe } from '../server/erlang/probes';

const NODES = 1_000;

function peerList(): Uint8Array {
  const names: Term[] = [];
  for (let index = 0; index < NODES; index++)
    names.push(atom(`sim${index}@10.42.${index >> 8}.${index & 255}`));
  return encodeTerm(names);
}

function nodesInfoReply(): Uint8Array {
  const entries: Term[] = [];
  for (let index = 0; index < NODES; index++) {
    const node = atom(`sim${index}@10.42.${index >> 8}.${index & 255}`);
    entries.push(
      tuple(node, [
        tuple(atom('owner'), new Pid(atom('beamscope@10.0.0.1'), 100 + index, 0, 1)),
        tuple(atom('state'), atom('up')),
        tuple(
          atom('address'),
          tuple(
            atom('net_address'),
            tuple(tuple(10, 42, index >> 8, index & 255), 40_000 + index),
            new Charlist(`10.42.${index >> 8}.${index & 255}`),
            atom('tcp'),
            atom('inet'),
          ),
        ),
        tuple(atom('type'), atom('normal')),
        tuple(atom('in'), 1_000 + index),
        tuple(atom('out'), 2_000 + index),
      ]),
    );
  }
  return encodeTerm(tuple(atom('ok'), entries));
}

/** `erlang:system_info(dist_ctrl)`: 1,000 `{Node, Port}`. */
function distControllersReply(): Uint8Array {
  const entries: Term[] = [];
  for (let index = 0; index < NODES; index++) {
    const node = atom(`sim${index}@10.42.${index >> 8}.${index & 255}`);
    entries.push(tuple(node, new Port(atom('sim0@10.42.0.0'), BigInt(1_000 + index), 1)));
  }
  return encodeTerm(entries);
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;

async function measure(
  name: string,
  bytes: Uint8Array,
  rounds: number,
  decode: (bytes: Uint8Array) => unknown = decodeTerm,
): Promise<void> {
  // Allocation per decode: heap growth over one decode right after a full collection (a decode
  // allocates far less than the young generation holds, so no scavenge runs inside it).
  const allocated: number[] = [];
  for (let sample = 0; sample < 20; sample++) {
    gc!();
    const before = process.memoryUsage().heapUsed;
    const term = decode(bytes);
    allocated.push(process.memoryUsage().heapUsed - before);
    void term;
  }
  allocated.sort((a, b) => a - b);

  let scavenges = 0;
  let scavengeMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as unknown as { detail?: { kind?: number } }).detail;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        scavenges++;
        scavengeMs += entry.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  gc!();
  const times: number[] = [];
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    decode(bytes);
    times.push(performance.now() - start);
    // A server decodes one reply per task: yield so finalizers and timers run between them.
    if (round % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  const wallMs = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  times.sort((a, b) => a - b);
  const cpuMsPerDecode = (cpu.user + cpu.system) / 1000 / rounds;
  console.log(
    `${name}: ${bytes.length} bytes; per decode median ${percentile(times, 50).toFixed(3)} ms, ` +
      `p99 ${percentile(times, 99).toFixed(3)} ms, CPU ${cpuMsPerDecode.toFixed(3)} ms (with GC); ` +
      `allocated ${(percentile(allocated, 50) / 1024).toFixed(1)} KiB; ` +
      `${rounds} decodes in ${wallMs.toFixed(0)} ms: ${scavenges} scavenges, ${scavengeMs.toFixed(1)} ms in them`,
  );
}

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2000' } } });
const rounds = Number(values.rounds);
console.log(
  `load average ${loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')}; ${rounds} rounds`,
);
await measure('peer list', peerList(), rounds);
const peerProbe = visibleNodesProbe(NODES);
await measure('peer list as the probe reads it', peerList(), rounds, (bytes) =>
  peerProbe.parse(bytes),
);
await measure('nodes_info', nodesInfoReply(), rounds);
const linkProbe = nodesInfoProbe(NODES);
await measure('nodes_info skimmed', nodesInfoReply(), rounds, (bytes) => linkProbe.parse(bytes));
await measure('dist_ctrl', distControllersReply(), rounds);
const controllersProbe = distControllersProbe(NODES);
await measure('dist_ctrl skimmed', distControllersReply(), rounds, (bytes) =>
  controllersProbe.parse(bytes),
);
