'use client';

import useSWR, { type SWRConfiguration } from 'swr';

import type { ApiError } from '@/lib/api';

/** An API failure with the operator-readable message the server sent. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** GETs JSON; a non-2xx answer throws an {@link ApiRequestError} with the server's message. */
export async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    const body = (await response.json().catch(() => null)) as ApiError | null;
    throw new ApiRequestError(
      response.status,
      body?.error.code ?? 'http_error',
      body?.error.message ?? `${url} answered ${response.status}`,
    );
  }
  return (await response.json()) as T;
}

/**
 * SWR over the JSON API, for what the event stream does not carry (the cluster list, a node's
 * history). It refreshes every 2 s unless told otherwise; SWR keeps the last good data on
 * screen while a refresh fails.
 */
export function useApi<T>(url: string | null, options: SWRConfiguration<T, ApiRequestError> = {}) {
  return useSWR<T, ApiRequestError>(url, fetchJson, { refreshInterval: 2000, ...options });
}
