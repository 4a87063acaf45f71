'use client';

import type { KubernetesMember } from '@/lib/members';
import { formatAge } from '@/lib/format';

function Condition({ on, label }: { on: boolean; label: string }) {
  return (
    <span
      className={`rounded px-1.5 py-0.5 text-xs ${on ? 'bg-green-100 text-green-900 dark:bg-green-950 dark:text-green-200' : 'bg-slate-200 text-slate-500 line-through dark:bg-slate-800'}`}
    >
      {label}
    </span>
  );
}

/** The members Kubernetes lists for a cluster, one row each, keyed by pod uid (or IP). */
export function MembersTable({ members, now }: { members: KubernetesMember[]; now: number }) {
  if (members.length === 0) {
    return <p className="p-4 text-slate-500">Kubernetes lists no members.</p>;
  }
  return (
    <table className="w-full border-collapse text-left text-sm" data-testid="members-table">
      <thead className="border-b border-slate-300 text-xs uppercase text-slate-500 dark:border-slate-700">
        <tr>
          <th className="px-3 py-2">Pod</th>
          <th className="px-3 py-2">IP</th>
          <th className="px-3 py-2">Node name</th>
          <th className="px-3 py-2">Conditions</th>
          <th className="px-3 py-2">Phase</th>
          <th className="px-3 py-2">Restarts</th>
          <th className="px-3 py-2">k8s node</th>
          <th className="px-3 py-2">Age</th>
        </tr>
      </thead>
      <tbody>
        {members.map((member) => (
          <tr
            key={member.podUid ?? member.ip}
            data-testid="member-row"
            data-ip={member.ip}
            data-ready={member.ready}
            data-terminating={member.terminating}
            className="border-b border-slate-200 dark:border-slate-800"
          >
            <td className="px-3 py-2 font-mono">{member.podName ?? '—'}</td>
            <td className="px-3 py-2 font-mono">{member.ip}</td>
            <td className="px-3 py-2 font-mono">{member.beamNode ?? '—'}</td>
            <td className="space-x-1 px-3 py-2">
              <Condition on={member.ready} label="ready" />
              <Condition on={member.serving} label="serving" />
              {member.terminating ? <Condition on label="terminating" /> : null}
            </td>
            <td className="px-3 py-2">{member.phase ?? '—'}</td>
            <td className="px-3 py-2">{member.restarts ?? '—'}</td>
            <td className="px-3 py-2">{member.k8sNode ?? '—'}</td>
            <td className="px-3 py-2">
              {member.startTime ? formatAge(Date.parse(member.startTime), now) : '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
