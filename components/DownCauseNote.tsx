'use client';

import { CAUSE_LABEL, tallyText, type CauseCount, type DownCause } from '@/lib/down-cause';

/** Props of {@link DownCauseNote}. */
export interface DownCauseNoteProps {
  cause: DownCause | undefined;
  /** For an event that stands for many: the causes counted. */
  causes?: CauseCount[] | undefined;
}

/**
 * Why a node or a link went down, under its timeline line and in the node drawer: the cause's
 * name, its one line, and what beamscope itself saw beside it. Nothing when there is no cause.
 */
export function DownCauseNote({ cause, causes }: DownCauseNoteProps) {
  if (!cause && !causes?.length) return null;
  const summary = causes && causes.length > 1;
  return (
    <p
      className="text-xs text-slate-600 dark:text-slate-300"
      data-testid="down-cause"
      data-cause={cause?.code ?? causes?.[0]?.code}
    >
      <span className="font-semibold">
        {summary ? 'why: ' : `why: ${cause ? CAUSE_LABEL[cause.code] : ''}`}
      </span>
      {summary ? tallyText(causes) : cause ? ` — ${cause.detail}` : ''}
      {!summary && cause?.evidence?.length ? (
        <span className="block text-slate-500 dark:text-slate-400">
          {cause.evidence.join('; ')}
        </span>
      ) : null}
    </p>
  );
}
