import { formatCount } from '@/lib/format';
import type { RowRegistry } from '@/lib/membership';
import { registryLabel } from '@/lib/registries';

/**
 * One registry in a member's row: what the node hosts, with the copy's size in the hover. The
 * number is never the copy: on a replicated registry it is the whole registry on every row.
 */
export function RegistryFigure({ entry }: { entry: RowRegistry }) {
  return (
    <div
      data-testid="member-registry"
      data-registry={entry.registry}
      data-hosted={entry.hosted ?? ''}
      data-count={entry.count}
      title={entry.title}
      className="flex cursor-help justify-end gap-1 whitespace-nowrap"
    >
      <span className="max-w-40 truncate text-slate-500">{registryLabel(entry.registry)}</span>
      <span
        data-testid="member-registry-hosted"
        className="underline decoration-slate-400 decoration-dotted underline-offset-2"
      >
        {entry.hosted === null ? '?' : formatCount(entry.hosted)}
      </span>
    </div>
  );
}
