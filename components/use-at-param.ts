'use client';

import { useSearchParams } from 'next/navigation';
import { useCallback } from 'react';

import { formatAtParam, parseAtParam } from '@/lib/time-travel';

/** The moment the page URL names, and the way to change it. */
export interface AtParamState {
  /** The moment `?at=` names, or null for live (also when it cannot be read). */
  at: number | null;
  /** Why `?at=` could not be read, or null. */
  atProblem: string | null;
  /** Shows a moment (null: live) and writes it into the URL, so the address can be shared. */
  setAt(at: number | null): void;
}

/**
 * `?at=` in the page URL as the page's one record of the moment shown. Written with
 * `history.replaceState`, which Next's router follows without a navigation: the page is not
 * fetched again and the live stream stays open.
 */
export function useAtParam(): AtParamState {
  const params = useSearchParams();
  const parsed = parseAtParam(params.get('at'));
  const setAt = useCallback((at: number | null) => {
    const url = new URL(window.location.href);
    if (at === null) url.searchParams.delete('at');
    else url.searchParams.set('at', formatAtParam(at));
    // null, not history.state: Next's own state object (marked __NA) would bypass the router's
    // sync, and useSearchParams would not see the change.
    window.history.replaceState(null, '', url);
  }, []);
  return {
    at: parsed.kind === 'at' ? parsed.at : null,
    atProblem: parsed.kind === 'invalid' ? parsed.reason : null,
    setAt,
  };
}
