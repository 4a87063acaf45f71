import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

// Docker is not available where these tests run, so the Dockerfile is checked as text: what it
// builds, from what, and what the runtime stage carries and runs. standalone.test.ts then runs the
// very directory the runtime stage copies, alone, as the image would.

const root = join(import.meta.dirname, '..', '..', '..');

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** The Dockerfile's instructions (continuations joined, comments dropped), split into stages. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    const rest = match[2]!.replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') {
      const [image, as, name] = rest.split(' ');
      stages.push({
        image: image!,
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      });
    } else if (keyword === 'ARG' && stages.length === 0) {
      const [name, value] = rest.split('=');
      args.set(name!, value ?? '');
    } else {
      stages.at(-1)?.instructions.push({ keyword, args: rest });
    }
  }
  return { args, stages };
}

function resolveImage(image: string, args: Map<string, string>): string {
  return image.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_, a?: string, b?: string) => args.get(a ?? b!) ?? '',
  );
}

/** The server file the end-to-end tests start, relative to the standalone folder. */
async function e2eServerFile(): Promise<string> {
  const app = await readFile(join(root, 'test/e2e/support/app.ts'), 'utf8');
  const match = /\.next\/standalone\/([\w./-]+)['"]/.exec(app);
  if (!match) throw new Error('test/e2e/support/app.ts no longer names a .next/standalone file');
  return match[1]!;
}

/** Whether a .dockerignore pattern (the simple forms this project uses) excludes a path. */
function ignored(patterns: string[], path: string): boolean {
  let excluded = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const body = (negated ? pattern.slice(1) : pattern).replace(/^\/|\/$/g, '');
    const expression = new RegExp(
      `^${body
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*')}(/.*)?$`,
    );
    if (expression.test(path)) excluded = !negated;
  }
  return excluded;
}

describe('Dockerfile', async () => {
  const text = await readFile(join(root, 'Dockerfile'), 'utf8');
  const { args, stages } = parseDockerfile(text);
  const runtime = stages.at(-1)!;
  // Every instruction, comments left out (they may well mention Erlang or npm run build).
  const instructions = stages
    .flatMap((stage) => [
      `FROM ${stage.image}`,
      ...stage.instructions.map((e) => `${e.keyword} ${e.args}`),
    ])
    .join('\n');
  const runtimeOf = (keyword: string) =>
    runtime.instructions.filter((entry) => entry.keyword === keyword).map((entry) => entry.args);

  it('is multi-stage: npm ci for the dependencies, next build and the standalone completion', () => {
    expect(stages.map((stage) => stage.name)).toEqual(['deps', 'build', 'runtime']);
    const runs = (stage: Stage) =>
      stage.instructions.filter((entry) => entry.keyword === 'RUN').map((entry) => entry.args);
    expect(runs(stages[0]!).join('\n')).toMatch(/\bnpm ci\b/);
    const build = runs(stages[1]!).join('\n');
    expect(build).toMatch(/\bnext build\b/);
    expect(build).toContain('node scripts/standalone.mjs');
    // `npm run build` would run scripts/setup.sh, which apt-installs Erlang and the test tools.
    expect(instructions).not.toMatch(/npm run build/);
  });

  it('builds every stage on Node 22 or newer, the runtime on a slim image', () => {
    for (const stage of stages) {
      const image = resolveImage(stage.image, args);
      const version = /^node:(\d+)/.exec(image);
      expect(version, `${stage.name}: ${image}`).not.toBeNull();
      expect(Number(version![1])).toBeGreaterThanOrEqual(22);
    }
    expect(resolveImage(runtime.image, args)).toMatch(/slim|distroless|alpine/);
  });

  it('carries only the standalone output into the runtime stage', async () => {
    const copies = runtimeOf('COPY');
    expect(copies).toEqual(['--from=build /src/.next/standalone ./']);
    // scripts/standalone.mjs is what puts .next/static and public/ inside the standalone folder.
    const completion = await readFile(join(root, 'scripts/standalone.mjs'), 'utf8');
    expect(completion).toContain("cp('.next/static', '.next/standalone/.next/static'");
    expect(completion).toContain("cp('public', '.next/standalone/public'");
  });

  it('runs as a numeric non-root user', () => {
    const users = runtimeOf('USER');
    expect(users).toHaveLength(1);
    const [user, group] = users[0]!.split(':');
    expect(user).toMatch(/^\d+$/);
    expect(Number(user)).toBeGreaterThan(0);
    if (group !== undefined) expect(Number(group)).toBeGreaterThan(0);
    // USER comes before CMD and after the last RUN (nothing after it runs as root).
    const keywords = runtime.instructions.map((entry) => entry.keyword);
    expect(keywords.lastIndexOf('RUN')).toBeLessThan(keywords.indexOf('USER'));
  });

  it('sets the listen address, port and config path, and exposes the port', () => {
    const env = runtimeOf('ENV').join(' ');
    expect(env).toMatch(/\bHOSTNAME=0\.0\.0\.0\b/);
    expect(env).toMatch(/\bPORT=3000\b/);
    expect(env).toMatch(/\bBEAMSCOPE_CONFIG=\/etc\/beamscope\/beamscope\.yaml\b/);
    expect(runtimeOf('EXPOSE')).toEqual(['3000']);
  });

  it('starts the same server file the end-to-end tests start', async () => {
    const cmd = runtimeOf('CMD');
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]!)).toEqual(['node', await e2eServerFile()]);
    expect(runtimeOf('WORKDIR')).toEqual(['/app']);
  });

  it('installs no Erlang, Elixir or other system packages anywhere', () => {
    expect(instructions).not.toMatch(/\b(erlang|elixir|erl|apt-get|apt|apk|yum|dnf)\b/i);
  });

  it('sends the build what it needs and no generated or secret files', async () => {
    const patterns = (await readFile(join(root, '.dockerignore'), 'utf8'))
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const needed of [
      'package.json',
      'package-lock.json',
      'next.config.js',
      'tsconfig.json',
      'postcss.config.mjs',
      'instrumentation.ts',
      'scripts/standalone.mjs',
      'app/page.tsx',
      'server/config/schema.ts',
      'public/robots.txt',
    ]) {
      expect(ignored(patterns, needed), needed).toBe(false);
    }
    for (const unwanted of [
      'node_modules/next/package.json',
      '.next/standalone/server.js',
      '.git/config',
      '.beamscope/sandbox/cookie',
      '.env.local',
      'test-results/unit.json',
      'tsconfig.tsbuildinfo',
    ]) {
      expect(ignored(patterns, unwanted), unwanted).toBe(true);
    }
  });
});
