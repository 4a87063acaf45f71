import 'server-only';

/**
 * The audit log: one line per sign-in, refusal, sign-out and sandbox control action — who, what,
 * the outcome, from where — on the server's log, never a token. Every access mode (and the OIDC
 * sign-in) writes through {@link audit}, so the lines look the same whatever signed the user in.
 */

/** What happened. */
export type AuditAction = 'sign-in' | 'sign-out' | 'request' | 'view-cluster' | 'sandbox-action';

/** How it ended: let in, refused (wrong credentials, no right), or limited (too many failures). */
export type AuditOutcome = 'allowed' | 'refused' | 'limited' | 'failed';

export interface AuditEvent {
  /** A principal's subject (`proxy:alice`), or what is known of an unknown caller (`unknown`). */
  who: string;
  action: AuditAction;
  outcome: AuditOutcome;
  /** The client's address as the TCP peer showed it, or `unknown`. */
  from: string;
  /** The object of the action: a cluster id, a sandbox action. */
  target?: string;
  /** Why, for a refusal: a short reason for the operator, never a submitted value. */
  reason?: string;
  /**
   * The groups a sign-in gave the user (mode oidc, from the provider's claim): what
   * `access.clusters` will match, so the line shows why they see what they see.
   */
  groups?: readonly string[];
}

type Sink = (line: string) => void;

const SINK = Symbol.for('beamscope.auditSink');
const holder = globalThis as { [SINK]?: Sink };

/** Where audit lines go; by default the server's log (stdout). A seam for tests. */
export function setAuditSink(sink: Sink | undefined): void {
  holder[SINK] = sink;
}

/**
 * A field value as the line shows it: bare when it is a plain word, else JSON-quoted, so a user
 * name with a space, a quote or a line break can neither split the line nor forge a field.
 */
function field(value: string): string {
  const capped = value.length > 256 ? `${value.slice(0, 253)}...` : value;
  return /^[A-Za-z0-9_.:@/+-]+$/.test(capped)
    ? capped
    : JSON.stringify(capped)
        .replace(/\u2028/g, '\\u2028')
        .replace(/\u2029/g, '\\u2029');
}

/** The audit line of `event`: `beamscope: audit: action=… outcome=… who=… from=… …`. */
export function formatAudit(event: AuditEvent): string {
  const parts = [
    `action=${field(event.action)}`,
    `outcome=${field(event.outcome)}`,
    `who=${field(event.who)}`,
    `from=${field(event.from)}`,
  ];
  if (event.target !== undefined) parts.push(`target=${field(event.target)}`);
  if (event.reason !== undefined) parts.push(`reason=${field(event.reason)}`);
  if (event.groups !== undefined) parts.push(`groups=${field(event.groups.join(',') || '-')}`);
  return `beamscope: audit: ${parts.join(' ')}`;
}

/** Writes one audit line. Call it with what the caller knows; it never throws. */
export function audit(event: AuditEvent): void {
  const line = formatAudit(event);
  const sink = holder[SINK];
  if (sink) sink(line);
  else console.log(line);
}
