import { EventEmitter } from 'node:events';

import { describe, expect, it } from 'vitest';

import type { KubernetesSourceStatus } from '@/lib/members';
import { formatEntry, logFormat, logSourceStates, type LogEntry } from '@/server/log';

/** A Kubernetes link that changes state when told, as KubernetesSource emits it. */
class Link extends EventEmitter<{ status: [KubernetesSourceStatus] }> {
  current: KubernetesSourceStatus = { state: 'syncing', since: 0 };
  status() {
    return this.current;
  }
  set(status: KubernetesSourceStatus) {
    this.current = status;
    this.emit('status', status);
  }
}

describe('the server log', () => {
  it('takes its format from BEAMSCOPE_LOG_FORMAT, text by default, and refuses anything else', () => {
    expect(logFormat({})).toBe('text');
    expect(logFormat({ BEAMSCOPE_LOG_FORMAT: 'json' })).toBe('json');
    expect(() => logFormat({ BEAMSCOPE_LOG_FORMAT: 'yaml' })).toThrow(
      'environment variable BEAMSCOPE_LOG_FORMAT: expected text or json, got "yaml"',
    );
  });

  it('writes a text line or a JSON object with the time', () => {
    const entry: LogEntry = { level: 'error', cluster: 'shop', message: 'kubernetes error (x): y' };
    expect(formatEntry(entry, 'text')).toBe('beamscope: cluster shop: kubernetes error (x): y');
    expect(JSON.parse(formatEntry(entry, 'json', new Date(0)))).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      ...entry,
    });
  });

  it('logs the distribution error once and each change of the Kubernetes link', () => {
    const link = new Link();
    const lines: LogEntry[] = [];
    const stop = logSourceStates(
      'shop',
      {
        distribution: {
          state: 'error',
          code: 'cookie_unreadable',
          reason: 'cannot read /etc/cookie',
        },
        kubernetes: link,
      },
      (entry) => lines.push(entry),
    );
    link.set({ state: 'ok', since: 1 });
    link.set({ state: 'error', since: 2, code: 'unreachable', reason: 'connection refused' });
    link.set({ state: 'ok', since: 3 });
    stop();
    link.set({ state: 'error', since: 4, code: 'unreachable', reason: 'connection refused' });
    expect(lines.map((line) => [line.source, line.state, line.code])).toEqual([
      ['distribution', 'error', 'cookie_unreadable'],
      ['kubernetes', 'ok', undefined],
      ['kubernetes', 'error', 'unreachable'],
      ['kubernetes', 'ok', undefined],
    ]);
    expect(lines[2]!.message).toBe('kubernetes error (unreachable): connection refused');
  });
});
