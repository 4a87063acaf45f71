import { ClusterOverview } from '@/components/ClusterOverview';

export default function HomePage() {
  return (
    <main className="mx-auto max-w-7xl space-y-6 p-6">
      <header className="flex items-baseline gap-3">
        <h1 className="text-2xl font-bold tracking-tight">beamscope</h1>
        <p className="text-slate-500">the pods Kubernetes lists, beside the BEAM nodes they run</p>
      </header>
      <ClusterOverview />
    </main>
  );
}
