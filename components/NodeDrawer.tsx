'use client';

import { useEffect, type ReactNode } from 'react';

import type { NodeDetailsResponse } from '@/lib/api';
import type { ClusterMember, ClusterState, TimelineEvent } from '@/lib/cluster-state';
import { lastDownOf } from '@/lib/down-cause';
import { formatMoment } from '@/lib/time-travel';
import { formatAge, formatBytes, formatClock, formatCount, formatDuration } from '@/lib/format';
import { codeLabel, memberFinding } from '@/lib/diagnosis';
import { memberVisualState } from '@/lib/graph-model';
import { tickMismatchOf } from '@/lib/links';

import { DownCauseNote } from './DownCauseNote';
import { NodeLinks } from './NodeLinks';
import { NodeCode } from './NodeCode';
import { NodeRegistries } from './NodeRegistries';
import { Sparkline } from './Sparkline';
import { StateMark } from './StateMark';
import { useApi } from './use-api';
import { useNodeSeries, useNow } from './use-history';

/** The sparklines' window: the hour before the moment shown. */
const SERIES_WINDOW_MS = 3_600_000;

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd className="min-w-0 break-words font-mono text-xs">{children}</dd>
    </>
  );
}

/** The doctor's verdict on one member, in the words `beamscope doctor` uses. */
function verdictOf(member: ClusterMember, state: ClusterState): { ok: boolean; text: string } {
  const finding = memberFinding(member, state);
  if (finding.verdict === 'ok') return { ok: true, text: finding.reason };
  return { ok: false, text: `${codeLabel(finding.code)}: ${finding.reason}` };
}

/** Props of {@link NodeDrawer}. */
export interface NodeDrawerProps {
  clusterId: string;
  state: ClusterState;
  /** The past moment shown (the state is the one recorded then), or null when live. */
  viewingAt?: number | null;
  memberKey: string;
  /** The recent timeline: the drawer says why the node last went down. */
  timeline?: readonly TimelineEvent[];
  onClose(): void;
}

/**
 * One member in depth: its Kubernetes and BEAM sides, sparklines of the hour to the moment shown
 * (the recorded series from `/nodes/{node}/history`; live, this server's own hour from
 * `/nodes/{node}` when nothing is recorded), the peers it sees against those expected, what it hosts of each
 * registry beside its copy's size, and the doctor's verdict.
 */
export function NodeDrawer({
  clusterId,
  state,
  viewingAt = null,
  memberKey,
  timeline = [],
  onClose,
}: NodeDrawerProps) {
  const member = state.members.find((candidate) => candidate.key === memberKey);
  const node = member?.node ?? null;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  const live = viewingAt === null;
  const now = useNow(60_000);
  // The live node's details carry its in-memory hour: only asked while live.
  const { data, error } = useApi<NodeDetailsResponse>(
    node && live
      ? `/api/clusters/${encodeURIComponent(clusterId)}/nodes/${encodeURIComponent(node)}`
      : null,
    { refreshInterval: 5000 },
  );
  // Rounded to 10 s while live, so the window (and the cache's key) moves in steps.
  const end = viewingAt ?? Math.ceil(state.at / 10_000) * 10_000;
  const series = useNodeSeries(
    clusterId,
    node,
    { from: end - SERIES_WINDOW_MS, to: end },
    { live },
  );
  if (!member) {
    return (
      <aside aria-label="Node details" className="p-4 text-sm" data-testid="node-drawer">
        <p>
          {live
            ? 'This member has left the cluster.'
            : 'This member was not in the cluster at the moment shown.'}
        </p>
        <button type="button" onClick={onClose} className="mt-2 underline">
          Close
        </button>
      </aside>
    );
  }
  const pod = member.kubernetes;
  const beam = member.beam;
  const visual = memberVisualState(member, state);
  const verdict = verdictOf(member, state);
  const expected = state.members
    .map((candidate) => candidate.kubernetes?.beamNode ?? null)
    .filter((candidate): candidate is string => candidate !== null && candidate !== node);
  const sees = new Set(beam?.sees ?? []);
  // The recorded series when there is one; else (nothing recorded, or no history on this
  // server) the hour this server run kept in memory.
  const recorded = series.data?.points ?? [];
  const history = recorded.length > 0 || !live ? recorded : (data?.history ?? []);
  const historyError = live ? (recorded.length > 0 ? undefined : error) : series.error;
  const lastDown = lastDownOf(timeline, member);
  const tickMismatch = beam ? tickMismatchOf(beam, state.tickSkew) : null;

  return (
    <aside
      aria-label={`Details of ${node ?? pod?.podName ?? member.key}`}
      className="flex h-full flex-col gap-4 overflow-y-auto p-4 text-sm"
      data-testid="node-drawer"
      data-key={member.key}
    >
      <header className="flex items-start gap-2">
        <div className="min-w-0 flex-1">
          <h2 className="break-all font-mono text-base font-semibold">
            {node ?? pod?.podName ?? member.key}
          </h2>
          <StateMark state={visual} withLabel />
        </div>
        <button
          type="button"
          onClick={onClose}
          aria-label="Close details"
          className="rounded px-2 py-1 text-lg leading-none hover:bg-slate-100 dark:hover:bg-slate-800"
        >
          ×
        </button>
      </header>
      <p
        data-testid="verdict"
        className={`rounded px-3 py-2 ${verdict.ok ? 'bg-green-50 text-green-900 dark:bg-green-950 dark:text-green-200' : 'bg-amber-50 text-amber-900 dark:bg-amber-950 dark:text-amber-200'}`}
      >
        <span aria-hidden>{verdict.ok ? '✓ ' : '⚠ '}</span>
        <span className="font-semibold">Doctor:</span> {verdict.text}
      </p>
      {lastDown ? (
        <section data-testid="last-down">
          <h3 className="mb-1 font-semibold">Last down at {formatClock(lastDown.at)}</h3>
          <DownCauseNote cause={lastDown.cause} />
        </section>
      ) : null}
      <section>
        <h3 className="mb-1 font-semibold">Kubernetes</h3>
        {pod ? (
          <dl className="grid grid-cols-[8rem_1fr] gap-x-3 gap-y-0.5">
            <Row label="pod">{pod.podName ?? '—'}</Row>
            <Row label="IP">{pod.ip}</Row>
            <Row label="k8s node">{pod.k8sNode ?? '—'}</Row>
            <Row label="conditions">
              {pod.ready ? 'ready' : 'not ready'}, {pod.serving ? 'serving' : 'not serving'}
              {pod.terminating ? ', terminating' : ''}
            </Row>
            <Row label="phase">{pod.phase ?? '—'}</Row>
            <Row label="restarts">{pod.restarts ?? '—'}</Row>
            <Row label="age">
              {pod.startTime ? formatAge(Date.parse(pod.startTime), state.at) : '—'}
            </Row>
            <Row label="from">
              {pod.source.kind} {pod.source.name}
            </Row>
          </dl>
        ) : (
          <p className="text-slate-500">No pod: a node seen in the mesh only.</p>
        )}
      </section>
      <section>
        <h3 className="mb-1 font-semibold">BEAM</h3>
        {beam ? (
          <dl className="grid grid-cols-[8rem_1fr] gap-x-3 gap-y-0.5">
            <Row label="connection">
              {beam.connection.status} since {formatClock(beam.connection.since)}
              {beam.connection.code ? ` (${beam.connection.code})` : ''}
            </Row>
            <Row label="OTP / Elixir">
              {beam.otpRelease ?? '—'} / {beam.elixirVersion ?? '—'}
            </Row>
            <Row label="processes">
              {beam.processCount === null ? '—' : formatCount(beam.processCount)}
            </Row>
            <Row label="memory">
              {beam.memoryBytes === null ? '—' : formatBytes(beam.memoryBytes)}
            </Row>
            <Row label="run queue">{beam.runQueue ?? '—'}</Row>
            <Row label="net_ticktime">
              <span data-testid="net-ticktime" data-mismatch={tickMismatch !== null}>
                {beam.netTicktimeSeconds === null ? '—' : `${beam.netTicktimeSeconds} s`}
                {tickMismatch ? (
                  <span className="ml-1 font-sans font-semibold text-amber-700 dark:text-amber-400">
                    ⚠ the other nodes run {tickMismatch.usual} s: they time peers out differently
                  </span>
                ) : null}
              </span>
            </Row>
            <Row label="uptime">{beam.uptimeMs === null ? '—' : formatDuration(beam.uptimeMs)}</Row>
            <Row label="probed">
              {beam.probedAt
                ? `${formatClock(beam.probedAt)} in ${beam.probeMs ?? '?'} ms`
                : 'not yet'}
            </Row>
            {beam.probeError ? <Row label="probe error">{beam.probeError}</Row> : null}
          </dl>
        ) : (
          <p className="text-slate-500">
            No BEAM node known for this pod (no node name could be derived).
          </p>
        )}
      </section>
      {node ? (
        <section className="space-y-1">
          <h3 className="font-semibold" data-testid="series-heading">
            {live ? 'Last hour' : `The hour to ${formatMoment(viewingAt, now)}`}
            <span className="ml-2 text-xs font-normal text-slate-500">
              {recorded.length > 0 ? 'recorded' : 'since this server started'}
            </span>
          </h3>
          {historyError ? (
            <p className="text-red-700 dark:text-red-400">{historyError.message}</p>
          ) : null}
          <Sparkline
            label="processes"
            points={history.map((point) => ({ at: point.at, value: point.processCount }))}
          />
          <Sparkline
            label="hosted registrations"
            points={history.map((point) => ({ at: point.at, value: point.registeredNames }))}
          />
          <Sparkline
            label="memory"
            points={history.map((point) => ({ at: point.at, value: point.memoryBytes }))}
            format={formatBytes}
          />
        </section>
      ) : null}
      {beam ? (
        <section>
          <h3 className="mb-1 font-semibold">
            Peers: sees {beam.sees ? expected.filter((peer) => sees.has(peer)).length : '?'} of{' '}
            {expected.length} expected
          </h3>
          <ul className="space-y-0.5 font-mono text-xs" data-testid="peers">
            {expected.map((peer) => (
              <li key={peer} data-seen={sees.has(peer)}>
                <span aria-hidden>{beam.sees === null ? '? ' : sees.has(peer) ? '✓ ' : '✗ '}</span>
                {peer}
                <span className="sr-only">{sees.has(peer) ? ' seen' : ' not seen'}</span>
              </li>
            ))}
            {[...sees]
              .filter((peer) => !expected.includes(peer))
              .map((peer) => (
                <li key={peer} className="text-cyan-700 dark:text-cyan-400">
                  + {peer} (not a pod of the service)
                </li>
              ))}
          </ul>
        </section>
      ) : null}
      {beam && beam.connection.status === 'connected' ? (
        <NodeLinks beam={beam} now={state.at} />
      ) : null}
      {beam && beam.registries.length > 0 ? <NodeRegistries registries={beam.registries} /> : null}
      {beam ? <NodeCode beam={beam} skew={state.codeSkew} /> : null}
    </aside>
  );
}
