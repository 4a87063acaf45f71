import 'server-only';

/**
 * The `history` section: where the cluster's past is recorded and for how long. Its schema (used
 * by `schema.ts`), the resolved form, and the defaults:
 *
 * - No `history` section: in memory, one hour — what beamscope did before it had a store, and
 *   what `npm run dev` wants (nothing written in the checkout, nothing to clean up; a restart
 *   starts afresh). The demo's and the deployed image's configurations name a store, so they
 *   record across restarts by default (`beamscope sandbox` writes `store: sqlite`, and
 *   deploy/kubernetes/beamscope.yaml points SQLite at the data volume).
 * - A section without `retention`: seven days for SQLite and PostgreSQL, one hour in memory.
 */
import { z } from 'zod';

const MINUTE_MS = 60_000;
const UNIT_MS = { m: MINUTE_MS, h: 60 * MINUTE_MS, d: 24 * 60 * MINUTE_MS } as const;
const DURATION = /^([1-9][0-9]{0,5})(m|h|d)$/;
/** Less than this and the retention edge would pass the recorder's keyframes. */
const MIN_RETENTION_MS = 10 * MINUTE_MS;
const MAX_RETENTION_MS = 3650 * UNIT_MS.d;
const DURATION_EXPECTED = 'expected a duration such as 90m, 36h or 7d (minutes, hours or days)';

export const DEFAULT_RETENTION_MS = {
  memory: UNIT_MS.h,
  sqlite: 7 * UNIT_MS.d,
  postgres: 7 * UNIT_MS.d,
};

/** `90m`, `36h`, `7d` → milliseconds; null when the text is not such a duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A retention: a duration within bounds. Custom issues get no `(got …)` from issues.ts: say it. */
const retentionSchema = z.string({ error: DURATION_EXPECTED }).superRefine((text, context) => {
  const got = ` (got ${JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text)})`;
  const ms = parseDuration(text);
  const message =
    ms === null
      ? DURATION_EXPECTED
      : ms < MIN_RETENTION_MS
        ? 'expected a retention of at least 10m'
        : ms > MAX_RETENTION_MS
          ? 'expected a retention of at most 3650d'
          : null;
  if (message !== null) context.addIssue({ code: 'custom', message: `${message}${got}` });
});

/** Fields that would put the database URL (and its password) in the file. */
const INLINE_URL_FIELDS = ['url', 'connectionString', 'password'];

export const historySchema = z.preprocess(
  (value, context) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const inline = INLINE_URL_FIELDS.find((key) => key in value);
      if (inline !== undefined) {
        context.addIssue({
          code: 'custom',
          path: [inline],
          message:
            'the PostgreSQL URL never goes in the configuration file (it holds a password): put it in an environment variable and name it in urlEnv',
        });
        return z.NEVER;
      }
    }
    return value;
  },
  z
    .strictObject({
      store: z.enum(['memory', 'sqlite', 'postgres']),
      path: z
        .string({ error: 'expected a folder for the SQLite file, such as /var/lib/beamscope' })
        .trim()
        .min(1, { error: 'expected a folder for the SQLite file, not an empty string' })
        .optional(),
      urlEnv: z
        .string({
          error: 'expected the name of an environment variable holding the PostgreSQL URL',
        })
        .regex(ENV_NAME, {
          error:
            'expected the name of an environment variable holding the PostgreSQL URL, such as BEAMSCOPE_HISTORY_URL',
        })
        .optional(),
      retention: retentionSchema.optional(),
    })
    .superRefine((history, context) => {
      if (history.store === 'sqlite' && history.path === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['path'],
          message: 'expected the folder of the SQLite file (store sqlite writes only there)',
        });
      }
      if (history.store === 'postgres' && history.urlEnv === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['urlEnv'],
          message:
            'expected the name of an environment variable holding the PostgreSQL URL (store postgres)',
        });
      }
      if (history.store !== 'sqlite' && history.path !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['path'],
          message: `applies to store sqlite only (store is ${history.store})`,
        });
      }
      if (history.store !== 'postgres' && history.urlEnv !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['urlEnv'],
          message: `applies to store postgres only (store is ${history.store})`,
        });
      }
    }),
);

export type HistoryFileSection = z.output<typeof historySchema>;

/** Where and how long the history is kept, defaults applied and the path absolute. */
export type HistoryConfig = { retentionMs: number } & (
  { store: 'memory' } | { store: 'sqlite'; path: string } | { store: 'postgres'; urlEnv: string }
);

/** The resolved section; no section at all is memory for an hour (see the header). */
export function resolveHistory(
  history: HistoryFileSection | undefined,
  absolute: (path: string) => string,
): HistoryConfig {
  if (!history) return { store: 'memory', retentionMs: DEFAULT_RETENTION_MS.memory };
  const retentionMs =
    history.retention !== undefined
      ? parseDuration(history.retention)!
      : DEFAULT_RETENTION_MS[history.store];
  if (history.store === 'sqlite')
    return { store: 'sqlite', path: absolute(history.path!), retentionMs };
  if (history.store === 'postgres')
    return { store: 'postgres', urlEnv: history.urlEnv!, retentionMs };
  return { store: 'memory', retentionMs };
}
