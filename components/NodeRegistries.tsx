import type { RegistryCount } from '@/lib/cluster-state';
import { formatCount } from '@/lib/format';
import { registryLabel, registryUnit } from '@/lib/registries';
import { entryHosted, entryTitle } from '@/lib/registry-view';

/**
 * A node's registries in the drawer: what it hosts of each, beside its copy's size. A node-local
 * registry has no copy (what it counts lives on the node); a group backend's copy is counted in
 * memberships, with its groups beside them.
 */
export function NodeRegistries({ registries }: { registries: readonly RegistryCount[] }) {
  return (
    <section>
      <h3 className="mb-1 font-semibold">Registries</h3>
      <table className="w-full text-left text-xs" data-testid="drawer-registries">
        <thead className="text-slate-500">
          <tr>
            <th scope="col" className="py-0.5 font-medium">
              registry
            </th>
            <th scope="col" className="py-0.5 text-right font-medium">
              hosted here
            </th>
            <th
              scope="col"
              className="py-0.5 pl-3 font-medium"
              title="The node's copy of the whole registry: the same on every node when they agree"
            >
              its copy
            </th>
          </tr>
        </thead>
        <tbody>
          {registries.map((entry) => {
            const hosted = entryHosted(entry);
            const unit = registryUnit(entry.registry);
            return (
              <tr
                key={entry.registry}
                title={entryTitle(entry)}
                data-testid="drawer-registry"
                data-registry={entry.registry}
                data-hosted={hosted ?? ''}
                data-count={entry.count}
              >
                <th scope="row" className="py-0.5 font-mono font-normal">
                  {registryLabel(entry.registry)}
                </th>
                <td className="whitespace-nowrap py-0.5 text-right tabular-nums">
                  {hosted === null ? 'unknown' : `${formatCount(hosted)} ${unit}`}
                </td>
                <td className="whitespace-nowrap py-0.5 pl-3 tabular-nums text-slate-600 dark:text-slate-400">
                  {entry.replicated
                    ? `${formatCount(entry.count)} ${unit}${
                        entry.groups !== undefined ? `, ${formatCount(entry.groups)} groups` : ''
                      }`
                    : 'none: node-local'}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
