'use client';

import type { BeamSide } from '@/lib/cluster-state';
import { formatAge, formatBytes } from '@/lib/format';
import { formatRate, isBusyLink } from '@/lib/links';

/**
 * One node's distribution links as it counts them: packets per second each way, bytes waiting
 * in the send queue (read for a few links per probe), and how long each has been up.
 */
export function NodeLinks({ beam, now }: { beam: BeamSide; now: number }) {
  const links = beam.links ?? [];
  return (
    <section>
      <h3 className="mb-1 font-semibold">
        Links{' '}
        <span className="font-normal text-slate-500">
          · packets/s out / in, send queue
          {beam.distBufBusyLimitBytes !== null
            ? ` (buffer busy at ${formatBytes(beam.distBufBusyLimitBytes)})`
            : ''}
        </span>
      </h3>
      {links.length === 0 ? (
        <p className="text-slate-500">
          {beam.links === null ? 'not read yet' : 'no visible links'}
        </p>
      ) : (
        <table className="w-full font-mono text-xs" data-testid="node-links">
          <tbody>
            {links.map((link) => (
              <tr key={link.peer} data-peer={link.peer} data-busy={isBusyLink(link)}>
                <td className="break-all pr-2">{link.peer}</td>
                <td className="whitespace-nowrap pr-2 text-right tabular-nums">
                  {formatRate(link.outRate)} / {formatRate(link.inRate)}
                </td>
                <td
                  className={`whitespace-nowrap pr-2 text-right tabular-nums ${isBusyLink(link) ? 'font-semibold text-red-700 dark:text-red-400' : ''}`}
                >
                  {link.queueBytes === null ? '–' : formatBytes(link.queueBytes)}
                  {isBusyLink(link) ? ' busy' : ''}
                </td>
                <td className="whitespace-nowrap text-right text-slate-500">
                  up {formatAge(link.since, now)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
