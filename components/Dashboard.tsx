'use client';

import Link from 'next/link';
import { useMemo, useState, type ReactNode } from 'react';

import type { ClusterSnapshot } from '@/lib/api';
import { codeLabel, distributionFix, kubernetesFix } from '@/lib/diagnosis';
import { buildGraphModel } from '@/lib/graph-model';
import { MeshBuilder } from '@/lib/mesh';

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
import { useClusterStream } from './use-cluster-stream';

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

function Skeleton() {
  return (
    <div
      className="mx-auto grid max-w-[1600px] gap-4 p-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]"
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
 * The dashboard of one cluster: top bar, topology, timeline, lookup, registries, membership and
 * the drawer.
 */
export function Dashboard({ clusterId }: { clusterId: string }) {
  const { data, error, link, samples } = useClusterStream(clusterId);
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const state = data?.state;
  // The page's own mesh builder: a delta that changed few peer lists rebuilds only those.
  const [meshes] = useState(() => new MeshBuilder());
  const model = useMemo(() => (state ? buildGraphModel(state, { meshes }) : null), [state, meshes]);

  const selectNode = (node: string) => {
    const member = state?.members.find((candidate) => candidate.node === node);
    if (member) setSelectedKey(member.key);
  };

  return (
    <div className="min-h-screen">
      <TopBar clusterId={clusterId} data={data} link={link} failed={!data && !!error} />
      {!data ? (
        error ? (
          <main className="mx-auto max-w-3xl p-6">
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
          </main>
        ) : (
          <Skeleton />
        )
      ) : (
        <main
          className="mx-auto max-w-[1600px] space-y-4 p-4"
          data-testid="dashboard"
          data-cluster={clusterId}
        >
          <SandboxPanel />
          <Problems data={data} />
          <CodeSkewPanel skew={data.state.codeSkew} onSelectNode={selectNode} />
          {data.state.members.length === 0 ? <EmptyCluster data={data} /> : null}
          <div className="grid gap-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]">
            <div className="h-[560px]">
              {model ? (
                <MeshView
                  state={data.state}
                  model={model}
                  meshes={meshes}
                  selectedKey={selectedKey}
                  onSelect={setSelectedKey}
                />
              ) : null}
            </div>
            <div className="flex h-[560px] min-h-0 flex-col gap-4">
              <RegistryLookup clusterId={clusterId} onSelectNode={selectNode} />
              <Timeline
                clusterId={clusterId}
                events={data.timeline}
                samples={samples}
                now={data.state.at}
                onSelect={setSelectedKey}
              />
            </div>
          </div>
          <HotLinks state={data.state} onSelectNode={selectNode} />
          <RegistriesPanel state={data.state} onSelectNode={selectNode} />
          <MembershipTable state={data.state} selectedKey={selectedKey} onSelect={setSelectedKey} />
        </main>
      )}
      {data && selectedKey ? (
        <div className="fixed inset-y-0 right-0 z-30 w-full max-w-md border-l border-slate-200 bg-white shadow-xl dark:border-slate-800 dark:bg-slate-900">
          <NodeDrawer
            clusterId={clusterId}
            state={data.state}
            memberKey={selectedKey}
            timeline={data.timeline}
            onClose={() => setSelectedKey(null)}
          />
        </div>
      ) : null}
    </div>
  );
}
