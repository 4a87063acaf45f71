/**
 * Preloaded into the dashboard server a bench measures (`NODE_OPTIONS=--import <this file's URL>`,
 * with BEAMSCOPE_BENCH_TRACE naming the output file): what the server's own event loop did, and
 * when its Kubernetes side told the collector of new members, without a line of the product
 * knowing about benches.
 *
 * Every second it appends one JSON line to the file: the second's event-loop delay
 * (`perf_hooks.monitorEventLoopDelay`, 10 ms resolution: p50, p99, max in ms), its garbage
 * collections by kind (count, total and longest pause, ms) and the times
 * (`Date.now()`) at which an EventEmitter emitted `members` — the Kubernetes source does so as soon
 * as a watch event changed the member list, in the turn that read it — and at which the server
 * parsed a watch event of an EndpointSlice (its kind and name): the moment it read the event,
 * since the client's watch parses each event's line with `JSON.parse` as soon as it has it.
 *
 * While a file `<trace>.profile` exists it also records a CPU profile and samples allocations
 * (node:inspector, in this process), written to `<trace>.heapprofile` and then `<trace>.cpuprofile`
 * once that file is removed: the bench's own span.
 */
import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.BEAMSCOPE_BENCH_TRACE;
// The server's threads inherit the preload (the distribution thread among them): the trace is
// the main thread's, the one that reads the watches and writes the pages' streams.
if (file && isMainThread) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let members = [];
  // Garbage collections of the second, by kind: how many, their total and longest pause, ms.
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  let gc = {};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[entry.detail?.kind] ?? 'other';
      const seen = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      seen.count += 1;
      seen.totalMs = Math.round((seen.totalMs + entry.duration) * 10) / 10;
      seen.maxMs = Math.max(seen.maxMs, Math.round(entry.duration * 10) / 10);
    }
  }).observe({ entryTypes: ['gc'] });
  const emit = EventEmitter.prototype.emit;
  EventEmitter.prototype.emit = function traced(name, ...args) {
    if (name === 'members') members.push(Date.now());
    return emit.call(this, name, ...args);
  };
  let reads = [];
  const parse = JSON.parse;
  JSON.parse = function tracedParse(text, reviver) {
    const value = parse(text, reviver);
    // A watch event's line, as the API server writes it: {"type":…,"object":{…}}.
    if (typeof text === 'string' && text.startsWith('{"type":')) {
      const kind = value?.object?.kind;
      if (kind === 'EndpointSlice') reads.push([Date.now(), value.object.metadata?.name ?? '']);
    }
    return value;
  };
  const ms = (ns) => Math.round(ns / 1e5) / 10;
  let profiler = null;
  const profile = () => {
    const wanted = existsSync(`${file}.profile`);
    if (wanted && !profiler) {
      profiler = new Session();
      profiler.connect();
      profiler.post('Profiler.enable');
      profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      profiler.post('Profiler.start');
      // Where the garbage comes from, beside where the time goes (the young generation's
      // collections are a fifth of the server's time at 1,000 nodes): every sampled allocation,
      // collected since or not — without these flags the profile holds only what is still live
      // at the end, which is what the server keeps, not what it churns.
      profiler.post('HeapProfiler.startSampling', {
        samplingInterval: 65536,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    } else if (!wanted && profiler) {
      const session = profiler;
      profiler = null;
      session.post('HeapProfiler.stopSampling', (heapError, heap) => {
        if (!heapError) writeFileSync(`${file}.heapprofile`, JSON.stringify(heap.profile));
      });
      session.post('Profiler.stop', (error, result) => {
        if (!error) {
          // Whole or not at all: the bench reads it as soon as it exists.
          writeFileSync(`${file}.cpuprofile.part`, JSON.stringify(result.profile));
          renameSync(`${file}.cpuprofile.part`, `${file}.cpuprofile`);
        }
        session.disconnect();
      });
    }
  };
  const timer = setInterval(() => {
    profile();
    const line = {
      at: Date.now(),
      loopP50Ms: ms(delay.percentile(50)),
      loopP99Ms: ms(delay.percentile(99)),
      loopMaxMs: ms(delay.max),
      members,
      sliceReads: reads,
      gc,
    };
    delay.reset();
    members = [];
    reads = [];
    gc = {};
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // The bench's directory went away: it has stopped reading.
    }
  }, 1000);
  timer.unref();
}
