'use client';

import Link from 'next/link';
import {
  memo,
  useCallback,
  useDeferredValue,
  useEffect,
  useRef,
  useState,
  type ReactNode,
} from 'react';

import type { ClusterSnapshot } from '@/lib/api';
import { codeLabel, distributionFix, kubernetesFix } from '@/lib/diagnosis';
import { MeshBuilder } from '@/lib/mesh';
import { scrubRange } from '@/lib/time-travel';

import { HotLinks } from './HotLinks';
import { CodeSkewPanel } from './CodeSkewPanel';
import { MembershipTable } from './MembershipTable';
import { MeshView } from './MeshView';
import { NodeDrawer } from './NodeDrawer';
import { RegistriesPanel } from './RegistriesPanel';
import { RegistryLookup } from './RegistryLookup';
import { SandboxPanel } from './SandboxPanel';
import { Timeline } from './Timeline';
import { TopBar } from './TopBar';
import { PastProblem, TimeTravelBar, ViewingBanner } from './TimeTravel';
import type { ApiRequestError } from './use-api';
import { useAtParam } from './use-at-param';
import { useChartSamples } from './use-chart-samples';
import { useClusterSource } from './use-cluster-source';
import { eventBeside, useHistoryStatus, useNow, useTickEvents } from './use-history';

// Panels whose props a delta leaves as they were (the cluster, a stable callback, the code skew
// the state keeps by identity): memoised, they do not render again for every delta.
const StableRegistryLookup = memo(RegistryLookup);
const StableCodeSkewPanel = memo(CodeSkewPanel);
const StableSandboxPanel = memo(SandboxPanel);

function Banner({
  tone,
  title,
  children,
  testId,
}: {
  tone: 'error' | 'warning';
  title: string;
  children: ReactNode;
  testId: string;
}) {
  return (
    <div
      role="alert"
      data-testid={testId}
      className={`rounded-lg border px-4 py-3 text-sm ${
        tone === 'error'
          ? 'border-red-300 bg-red-50 text-red-950 dark:border-red-900 dark:bg-red-950/60 dark:text-red-100'
          : 'border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-100'
      }`}
    >
      <p className="font-semibold">
        <span aria-hidden>{tone === 'error' ? '✖ ' : '⚠ '}</span>
        {title}
      </p>
      <div className="mt-1 space-y-1">{children}</div>
    </div>
  );
}

function Problems({ data }: { data: ClusterSnapshot }) {
  const { state, cluster } = data;
  const kubernetes = state.kubernetes;
  const distribution = state.distribution;
  return (
    <>
      {kubernetes.state === 'error' ? (
        <Banner
          tone="error"
          title={`Kubernetes: ${codeLabel(kubernetes.code)}`}
          testId="kubernetes-error"
        >
          <p>{kubernetes.reason}</p>
          {kubernetesFix(kubernetes.code) ? <p>Fix: {kubernetesFix(kubernetes.code)}</p> : null}
        </Banner>
      ) : null}
      {state.tickSkew ? (
        <Banner tone="warning" title="Nodes disagree on net_ticktime" testId="tick-skew">
          <p>
            {state.tickSkew.values
              .map((value) => `${value.seconds} s on ${value.nodes.length} node(s)`)
              .join(', ')}
            : a node with a shorter tick time declares a quiet peer down sooner.
          </p>
          <p>
            Fix: run every node with the same <code>-kernel net_ticktime</code> (
            {state.tickSkew.values[0]!.seconds} s, as most do).
          </p>
        </Banner>
      ) : null}
      {distribution.state === 'error' ? (
        <Banner
          tone="error"
          title={`Distribution: ${codeLabel(distribution.code)}`}
          testId="distribution-error"
        >
          <p>{distribution.reason}</p>
          <p>Fix: {distributionFix(distribution.code, { clusterId: cluster.id })}</p>
        </Banner>
      ) : null}
    </>
  );
}

function EmptyCluster({ data }: { data: ClusterSnapshot }) {
  const { cluster } = data;
  return (
    <div
      data-testid="empty-cluster"
      className="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center dark:border-slate-700 dark:bg-slate-900"
    >
      <p className="text-lg font-semibold">No members yet</p>
      <p className="mt-2 text-slate-600 dark:text-slate-300">
        beamscope watches <span className="font-mono">{cluster.discovery.target}</span> (
        {cluster.discovery.mode}) in namespace{' '}
        <span className="font-mono">{cluster.namespace ?? 'default'}</span>, and Kubernetes lists no
        pod for it.
      </p>
      <p className="mt-2 text-sm text-slate-500">
        Doctor: check the name and namespace (
        <code>kubectl get endpointslices -l kubernetes.io/service-name=…</code>), that the pods are
        Ready, or run <code>beamscope doctor</code> for a step-by-step diagnosis.
      </p>
    </div>
  );
}

function LoadError({ clusterId, error }: { clusterId: string; error: ApiRequestError }) {
  return (
    <Banner
      tone="error"
      title={error.status === 404 ? 'No such cluster' : 'Cannot load the cluster'}
      testId="load-error"
    >
      <p>{error.message}</p>
      <p>
        {error.status === 404 ? (
          <>
            Fix: pick a configured cluster on the{' '}
            <Link href="/" className="underline">
              cluster list
            </Link>
            , or add <code>{clusterId}</code> to the configuration file.
          </>
        ) : (
          'Fix: check that the beamscope server is running and reachable; this page retries when it reconnects.'
        )}
      </p>
    </Banner>
  );
}

function Skeleton() {
  return (
    <div
      className="grid gap-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]"
      data-testid="skeleton"
      aria-busy
    >
      <div className="h-[480px] animate-pulse rounded-lg bg-slate-200 dark:bg-slate-800" />
      <div className="h-[480px] animate-pulse rounded-lg bg-slate-200 dark:bg-slate-800" />
      <div className="h-64 animate-pulse rounded-lg bg-slate-200 lg:col-span-2 dark:bg-slate-800" />
    </div>
  );
}

/**
 * The dashboard of one cluster: top bar, time, topology, timeline, lookup, registries, membership
 * and the drawer. Every panel reads the one source of state: the live stream, or the recorded
 * state at the moment `?at=` names (see {@link useClusterSource}).
 */
export function Dashboard({ clusterId }: { clusterId: string }) {
  const { at, atProblem, setAt } = useAtParam();
  const source = useClusterSource(clusterId, at);
  const now = useNow();
  const history = useHistoryStatus(clusterId);
  const retained = history.data?.retained ?? null;
  const range = scrubRange(retained, now);
  const ticks = useTickEvents(clusterId, retained?.from ?? null);
  const live = source.live;
  const data = source.shown;
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const state = data?.state;
  // The page's own mesh builder: a delta that changed few peer lists rebuilds only those.
  const [meshes] = useState(() => new MeshBuilder());
  const samples = useChartSamples(clusterId, source, retained, now);

  // One function for the page's life, reading the latest state: the panels it is handed to are
  // memoised, and a new function per delta would render them all again.
  const latestState = useRef(state);
  useEffect(() => {
    latestState.current = state;
  });
  const selectNode = useCallback((node: string) => {
    const member = latestState.current?.members.find((candidate) => candidate.node === node);
    if (member) setSelectedKey(member.key);
  }, []);
  const stepFrom = useCallback(
    (from: number, direction: 'previous' | 'next') => eventBeside(clusterId, from, direction),
    [clusterId],
  );
  const backToLive = useCallback(() => setAt(null), [setAt]);
  const pastProblem =
    atProblem !== null
      ? { at: null, reason: atProblem }
      : source.mode === 'past' && source.error
        ? { at: source.at, reason: source.error.message }
        : null;
  // A failed past moment shows its reason instead of a state: never the live one under its name.
  const shown = pastProblem ? undefined : data;
  // The panels below the mesh (hot links, registries, members) follow a deferred copy: React
  // renders them after the mesh and the top bar, in a render it interrupts for the browser's
  // frames, so neither the first frame after the data nor the frames while deltas arrive wait
  // on them.
  const panelState = useDeferredValue(shown?.state);
  // The members table is deferred only for its first render, the costly one the first frame must
  // not wait on. From then on it follows the live state: a member's change shows in its row in
  // the same render as in the mesh, not a deferred render and a frame or two later (a delta's
  // work there is one screen of memoised rows). Set while rendering, as React allows for state
  // derived from a render's own values: the deferred render that first has data switches it.
  const [tableLive, setTableLive] = useState(false);
  if (panelState && !tableLive) setTableLive(true);
  const tableState = tableLive ? (shown?.state ?? panelState) : panelState;

  return (
    <div className="min-h-screen">
      <TopBar
        clusterId={clusterId}
        data={shown}
        link={live.link}
        failed={!live.data && !!live.error}
        banner={
          source.mode === 'past' && !pastProblem ? (
            <ViewingBanner at={source.at} now={now} loading={source.loading} onLive={backToLive} />
          ) : null
        }
      />
      {!live.data && live.error && source.mode === 'live' ? (
        <main className="mx-auto max-w-3xl p-6">
          <LoadError clusterId={clusterId} error={live.error} />
        </main>
      ) : (
        <main
          className="mx-auto max-w-[1600px] space-y-4 p-4"
          data-testid={shown ? 'dashboard' : 'dashboard-waiting'}
          data-cluster={clusterId}
          data-mode={source.mode}
          data-at={source.mode === 'past' ? source.at : undefined}
          // While the next moment loads the last one stays on screen: tests wait for this.
          data-loading={source.mode === 'past' && source.loading}
        >
          <TimeTravelBar
            status={history.data}
            statusError={history.error}
            range={range}
            at={at}
            now={now}
            tickEvents={ticks.data ?? []}
            onChange={setAt}
            onStep={stepFrom}
          />
          {pastProblem ? (
            <PastProblem
              at={pastProblem.at}
              now={now}
              reason={pastProblem.reason}
              retained={retained}
              statusKnown={history.data !== undefined}
              statusError={history.error}
              onLive={backToLive}
            />
          ) : null}
          {!shown ? (
            pastProblem ? null : (
              <Skeleton />
            )
          ) : (
            <>
              {source.mode === 'live' ? <StableSandboxPanel /> : null}
              <Problems data={shown} />
              <StableCodeSkewPanel skew={shown.state.codeSkew} onSelectNode={selectNode} />
              {shown.state.members.length === 0 ? <EmptyCluster data={shown} /> : null}
              <div className="grid gap-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]">
                <div className="h-[560px]">
                  <MeshView
                    state={shown.state}
                    meshes={meshes}
                    selectedKey={selectedKey}
                    onSelect={setSelectedKey}
                  />
                </div>
                <div className="flex h-[560px] min-h-0 flex-col gap-4">
                  {source.mode === 'past' ? (
                    <p className="-mb-3 text-xs text-slate-500" data-testid="lookup-live-note">
                      “Where is…?” asks the nodes as they are now, not at the moment shown.
                    </p>
                  ) : null}
                  <StableRegistryLookup clusterId={clusterId} onSelectNode={selectNode} />
                  <Timeline
                    // A new moment is a new list: earlier pages loaded for another are dropped.
                    key={source.mode === 'past' ? `at-${source.at}` : 'live'}
                    clusterId={clusterId}
                    events={shown.timeline}
                    // The details route serves this run's events only; a past run's may share a seq.
                    detailsAvailable={source.mode === 'live' || shown.epoch === live.data?.epoch}
                    samples={samples.points}
                    recorded={samples.recorded}
                    now={source.mode === 'past' ? source.at : shown.state.at}
                    viewing={source.mode === 'past' ? source.at : null}
                    onSelect={setSelectedKey}
                  />
                </div>
              </div>
              {panelState ? (
                <>
                  <HotLinks state={panelState} onSelectNode={selectNode} />
                  <RegistriesPanel state={panelState} onSelectNode={selectNode} />
                  <MembershipTable
                    state={tableState ?? panelState}
                    selectedKey={selectedKey}
                    onSelect={setSelectedKey}
                  />
                </>
              ) : null}
            </>
          )}
        </main>
      )}
      {shown && selectedKey ? (
        <div className="fixed inset-y-0 right-0 z-30 w-full max-w-md border-l border-slate-200 bg-white shadow-xl dark:border-slate-800 dark:bg-slate-900">
          <NodeDrawer
            clusterId={clusterId}
            state={shown.state}
            viewingAt={source.mode === 'past' ? source.at : null}
            memberKey={selectedKey}
            timeline={shown.timeline}
            onClose={() => setSelectedKey(null)}
          />
        </div>
      ) : null}
    </div>
  );
}
