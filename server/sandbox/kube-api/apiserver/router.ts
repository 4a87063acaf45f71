import 'server-only';

// Route tables: a method and a path pattern lead to a handler; the first route that matches wins.

/** One row of a route table. */
export interface Route<H> {
  /** Absent: any method. */
  method?: string;
  pattern: RegExp;
  handle: H;
}

/** The first route of `routes` for `method` and `path`, with the pattern's match. */
export function findRoute<R extends Route<unknown>>(
  routes: readonly R[],
  method: string | undefined,
  path: string,
): { route: R; match: RegExpExecArray } | undefined {
  for (const route of routes) {
    if (route.method !== undefined && route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (match) return { route, match };
  }
  return undefined;
}
