/**
 * Read-only by construction (issue 8 item 4), the inputs side: besides the route handlers that
 * read-only.test.ts enumerates, nothing else may take input from a request. No Server Actions
 * (each `'use server'` function is a POST endpoint Next makes on its own), no page beyond the
 * reviewed ones, and every page search parameter and request-body field is on a reviewed list,
 * none named like a module, function or argument list.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { sandboxActionSchema } from '@/server/http/dashboard';

import { filesUnder, FORBIDDEN, root } from './support';

const read = (file: string) => readFile(join(root, file), 'utf8');

/** The source files a request can reach: the app, its components, libraries, server and entries. */
async function productSources(): Promise<string[]> {
  return [
    ...(await filesUnder('app')),
    ...(await filesUnder('components')),
    ...(await filesUnder('lib')),
    ...(await filesUnder('server')),
    'instrumentation.ts',
    'next.config.js',
    'proxy.ts',
  ];
}

/** Field names of `{ a, b: renamed, c = 1 }` destructuring text. */
function destructured(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim().split(/[:=\s]/)[0]!)
    .filter((name) => name.length > 0)
    .sort();
}

describe('read-only by construction: no Server Actions, no unreviewed pages', () => {
  it('has no `use server` directive anywhere in the product', async () => {
    const offenders: string[] = [];
    for (const file of await productSources()) {
      // A directive is a whole statement: at the top of a file or of a function body.
      if (/^\s*(['"`])use server\1\s*;?\s*$/m.test(await read(file))) offenders.push(file);
    }
    expect(offenders).toEqual([]);
    // Nor does the configuration turn on anything that would accept actions from elsewhere.
    expect(await read('next.config.js')).not.toMatch(/serverActions|allowedOrigins/);
  });

  it('has only the reviewed pages and files under app/ besides the route handlers', async () => {
    const files = (await filesUnder('app', /./)).filter(
      (file) => !/^app\/api\/.*\/route\.ts$/.test(file),
    );
    expect(files).toEqual([
      'app/clusters/[id]/page.tsx',
      'app/globals.css',
      'app/icon.svg',
      'app/layout.tsx',
      'app/page.tsx',
      // Mode oidc's part of the sign-in page: a link to /api/session/oidc (it serves nothing).
      'app/sign-in/OidcSignIn.tsx',
      // A client component of the sign-in page (it renders the form; it serves nothing).
      'app/sign-in/SignInForm.tsx',
      'app/sign-in/page.tsx',
      // A form posting to /api/session/end, or a sentence where there is no session to end.
      'app/sign-out/page.tsx',
    ]);
    // Nothing under app/api but route handlers (a page there would be a second way in).
    expect((await filesUnder('app/api', /./)).every((file) => file.endsWith('/route.ts'))).toBe(
      true,
    );
    expect((await read('app/sign-in/SignInForm.tsx')).trimStart()).toMatch(/^'use client';/);
  });
});

describe('read-only by construction: page search parameters and request bodies', () => {
  it('reads exactly the reviewed search and path parameters in pages and layouts', async () => {
    const pages = (await filesUnder('app', /\.(tsx|ts)$/)).filter(
      (file) => !file.startsWith('app/api/'),
    );
    const search = new Map<string, string[]>();
    const path = new Map<string, string[]>();
    for (const file of pages) {
      const text = await read(file);
      for (const [kind, into] of [
        ['searchParams', search],
        ['params', path],
      ] as const) {
        const word = new RegExp(`\\b${kind}\\b`, 'g');
        const total = [...text.matchAll(word)].length;
        if (total === 0) continue;
        // Recognised uses: the prop in the component's argument destructuring, its type, and
        // `const { … } = await <kind>`. Any other use (passed on whole, spread, `props.<kind>`)
        // is unrecognised and fails the count below: a reviewer has to look at it.
        const props = [...text.matchAll(new RegExp(`[{,]\\s*${kind}\\s*[,}]`, 'g'))].length;
        const types = [...text.matchAll(new RegExp(`\\b${kind}\\??:\\s*Promise<`, 'g'))].length;
        const reads = [
          ...text.matchAll(new RegExp(`const\\s*\\{([^}]*)\\}\\s*=\\s*await\\s+${kind}\\b`, 'g')),
        ];
        expect(`${file}: ${kind} used ${total} times`).toBe(
          `${file}: ${kind} used ${props + types + reads.length} times`,
        );
        const names = [...new Set(reads.flatMap((match) => destructured(match[1]!)))].sort();
        into.set(file, names);
      }
    }
    expect(Object.fromEntries(search)).toEqual({
      // The no-JavaScript sign-in path: where to go after, and why the last attempt failed;
      // `out`: the sign-out just happened (the page says so).
      'app/sign-in/page.tsx': ['error', 'next', 'out', 'retry'],
    });
    expect(Object.fromEntries(path)).toEqual({ 'app/clusters/[id]/page.tsx': ['id'] });
    for (const name of [...search.values(), ...path.values()].flat())
      expect(name).not.toMatch(FORBIDDEN);
    // Client code reads the URL's query in one reviewed place: `?at=`, the moment shown, which
    // reaches the API only as the number parseAtParam makes of it (or not at all).
    const clients: string[] = [];
    for (const file of [...(await filesUnder('app')), ...(await filesUnder('components'))]) {
      if (/\buseSearchParams\b/.test(await read(file))) clients.push(file);
    }
    expect(clients).toEqual(['components/use-at-param.ts']);
    const atParam = await read('components/use-at-param.ts');
    expect([...atParam.matchAll(/\bparams\.(\w+)\(([^)]*)\)/g)].map((match) => match[0])).toEqual([
      "params.get('at')",
    ]);
    expect(atParam).toMatch(/parseAtParam\(params\.get\('at'\)\)/);
  });

  it('reads a request body only in the reviewed places, with the reviewed fields', async () => {
    const readers: string[] = [];
    for (const file of await productSources()) {
      // The sandbox's emulated Kubernetes API is its own server in the sandbox process: the
      // dashboard never serves it.
      if (file.startsWith('server/sandbox/kube-api/')) continue;
      const text = await read(file);
      if (
        /\b(request|req)\.(json|formData|text|arrayBuffer|blob)\(|\b(request|req)\.body\b|\b(request|req)\.on\(\s*'data'/.test(
          text,
        )
      )
        readers.push(file);
    }
    expect(readers).toEqual(['app/api/sandbox/route.ts', 'server/auth/sign-in.ts']);

    // Sign-in (POST /api/session): a form or JSON body, of which only `token` and `next` are read.
    const signIn = await read('server/auth/sign-in.ts');
    const formFields = [...signIn.matchAll(/\bform\.(\w+)\(\s*'([^']+)'/g)].map((match) => {
      expect(match[1]).toBe('get');
      return match[2]!;
    });
    // Uses of the identifier (not the word in prose): `const form = …` and one `form.get(…)` per
    // field, so nothing iterates the form or passes it on.
    const formUses = [...signIn.matchAll(/\bform\s*[.),\]=;]/g)].length;
    expect(formUses).toBe(1 + formFields.length);
    const jsonFields = [...signIn.matchAll(/\bbody\??\.(\w+)/g)].map((match) => match[1]!);
    const jsonType = signIn.match(/await request\.json\(\)\)\s*as\s*\{([^}]*)\}/);
    expect(jsonType).not.toBeNull();
    const typed = jsonType![1]!
      .split(';')
      .map((part) => part.trim().split(/[?:]/)[0]!)
      .filter(Boolean);
    expect(signIn).not.toMatch(
      /\.\.\.\s*(body|form)\b|\b(Object\.\w+|JSON\.stringify)\(\s*(body|form)\b/,
    );
    const signInFields = [...new Set([...formFields, ...jsonFields, ...typed])].sort();
    expect(signInFields).toEqual(['next', 'token']);

    // Sandbox actions (POST /api/sandbox): the body goes whole to the schema, which keeps only
    // its own fields (read-only.test.ts shows unknown ones are dropped).
    const sandboxRoute = await read('app/api/sandbox/route.ts');
    expect(sandboxRoute).toMatch(
      /const body: unknown = await request\.json\(\)\.catch\(\(\) => null\);\s*const result = await sandboxAction\(runtime\.config\.sourcePath, body, /,
    );
    expect([...sandboxRoute.matchAll(/\bbody\b/g)].length).toBe(2);
    expect(await read('server/http/dashboard.ts')).toMatch(
      /sandboxActionSchema\.safeParse\(body\)/,
    );
    const sandboxFields = [
      ...new Set(sandboxActionSchema.options.flatMap((option) => Object.keys(option.shape))),
    ].sort();
    // `version`: one of the demo app's releases (a closed enum), for a pod or a rolling upgrade.
    expect(sandboxFields).toEqual(['action', 'pod', 'replicas', 'restore', 'sides', 'version']);

    for (const name of [...signInFields, ...sandboxFields]) expect(name).not.toMatch(FORBIDDEN);
  });
});
