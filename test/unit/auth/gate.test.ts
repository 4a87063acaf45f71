import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAccess } from '@/server/auth';
import { AccessGate, isOpenPath } from '@/server/auth/gate';
import { installPeerHook, PEER_HEADER, PEER_PROOF_HEADER, verifiedPeer } from '@/server/auth/peer';
import { FailureLimiter } from '@/server/auth/rate-limit';
import type { BeamscopeConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';

const TOKEN = 'unit-test-access-token-0123456789';
const SECRET = Buffer.alloc(32, 3);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-auth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Headers as the startup hook would stamp them for a request from `address`. */
function fromPeer(address: string, extra: Record<string, string> = {}): Headers {
  const stamp = new Headers();
  // The proof as peer.ts computes it (verifiedPeer checks it below).
  stamp.set(PEER_HEADER, address);
  stamp.set(
    PEER_PROOF_HEADER,
    createHmac('sha256', SECRET).update(`peer\0${address}`).digest('base64url'),
  );
  for (const [name, value] of Object.entries(extra)) stamp.set(name, value);
  return stamp;
}

describe('open paths', () => {
  it('are the probe, sign-in, its form target, the icon and the static build only', () => {
    for (const path of [
      '/api/healthz',
      '/sign-in',
      '/api/session',
      '/api/session/end',
      '/icon.svg',
      '/_next/static/chunks/a.js',
    ])
      expect(isOpenPath(path), path).toBe(true);
    for (const path of [
      '/',
      '/api/clusters',
      '/api/healthz/x',
      '/api/healthzz',
      '/sign-in/x',
      '/api/sandbox',
      '/clusters/sandbox',
      '/api/clusters/sandbox/events',
      '/_next/image',
      '/api/metrics',
    ])
      expect(isOpenPath(path), path).toBe(false);
  });
});

describe('token mode', () => {
  const lines: string[] = [];
  const gate = new AccessGate(
    { mode: 'token', tokenEnv: 'TOKEN' },
    {
      env: { TOKEN: `${TOKEN}\n` },
      peerSecret: SECRET,
      limiter: new FailureLimiter(3, 60_000),
      log: (line) => lines.push(line),
    },
  );

  it('refuses a request with nothing, a wrong Bearer or a forged cookie', async () => {
    expect(
      await gate.authorize({ headers: fromPeer('10.0.0.1'), sessionCookie: undefined }),
    ).toMatchObject({
      allowed: false,
      status: 401,
      code: 'auth_required',
    });
    expect(
      await gate.authorize({
        headers: fromPeer('10.0.0.1', { authorization: 'Bearer nope' }),
        sessionCookie: undefined,
      }),
    ).toMatchObject({ allowed: false, status: 401, code: 'auth_failed' });
    expect(
      await gate.authorize({ headers: fromPeer('10.0.0.1'), sessionCookie: TOKEN }),
    ).toMatchObject({
      allowed: false,
    });
  });

  it('lets the Bearer token through, and a session issued by a sign-in', async () => {
    const headers = fromPeer('10.0.0.2', { authorization: `Bearer ${TOKEN}` });
    expect(await gate.authorize({ headers, sessionCookie: undefined })).toEqual({
      allowed: true,
      principal: { subject: 'token', name: 'token', groups: [] },
    });
    const result = await gate.signIn(TOKEN, '10.0.0.2');
    expect(result.ok).toBe(true);
    const cookie = result.ok ? result.cookie : '';
    expect(cookie).not.toContain(TOKEN);
    expect(await gate.authorize({ headers: fromPeer('10.0.0.2'), sessionCookie: cookie })).toEqual({
      allowed: true,
      principal: { subject: 'token', name: 'token', groups: [] },
    });
  });

  it('rate limits failed sign-ins per address and logs them without the secret', async () => {
    const wrong = 'wrong-guess-that-should-never-be-logged';
    for (let attempt = 0; attempt < 3; attempt += 1)
      expect(await gate.signIn(wrong, '10.0.0.3')).toMatchObject({ ok: false, status: 401 });
    const limited = await gate.signIn(TOKEN, '10.0.0.3');
    expect(limited).toMatchObject({ ok: false, status: 429 });
    expect(limited.ok ? 0 : limited.retryAfterSeconds).toBeGreaterThan(0);
    // A wrong Bearer from that address is refused the same way, and others are unaffected.
    expect(
      await gate.authorize({
        headers: fromPeer('10.0.0.3', { authorization: `Bearer ${TOKEN}` }),
        sessionCookie: undefined,
      }),
    ).toMatchObject({ allowed: false, status: 429 });
    expect((await gate.signIn(TOKEN, '10.0.0.4')).ok).toBe(true);
    expect(lines.some((line) => line.includes('10.0.0.3'))).toBe(true);
    expect(lines.join('\n')).not.toContain(wrong);
    expect(lines.join('\n')).not.toContain(TOKEN);
  });
});

describe('token file rotation', () => {
  it('ends sessions and accepts the new token once the file changes', async () => {
    const file = join(dir, 'token');
    await writeFile(file, `${TOKEN}\n`);
    let now = 0;
    const gate = new AccessGate(
      { mode: 'token', tokenFile: file },
      { peerSecret: SECRET, log: () => undefined, tokenTtlMs: 1000, now: () => now },
    );
    const signedIn = await gate.signIn(TOKEN, '10.1.0.1');
    const cookie = signedIn.ok ? signedIn.cookie : '';
    expect(await gate.authorize({ headers: fromPeer('10.1.0.1'), sessionCookie: cookie })).toEqual({
      allowed: true,
      principal: { subject: 'token', name: 'token', groups: [] },
    });
    await writeFile(file, 'a-rotated-token-of-enough-length\n');
    now = 5000;
    expect(
      await gate.authorize({ headers: fromPeer('10.1.0.1'), sessionCookie: cookie }),
    ).toMatchObject({ allowed: false });
    expect((await gate.signIn('a-rotated-token-of-enough-length', '10.1.0.1')).ok).toBe(true);
  });
});

describe('proxy mode', () => {
  const gate = new AccessGate(
    {
      mode: 'proxy',
      proxy: { header: 'X-Forwarded-User', trustedProxies: ['127.0.0.1', '10.0.0.0/8'] },
    },
    { peerSecret: SECRET },
  );

  it('honours the identity header from a trusted proxy', async () => {
    expect(
      await gate.authorize({
        headers: fromPeer('10.4.5.6', { 'x-forwarded-user': 'ada' }),
        sessionCookie: undefined,
      }),
    ).toEqual({ allowed: true, principal: { subject: 'proxy:ada', name: 'ada', groups: [] } });
  });

  it('refuses it from any other address, and a trusted proxy that names no one', async () => {
    expect(
      await gate.authorize({
        headers: fromPeer('192.168.0.9', { 'x-forwarded-user': 'ada' }),
        sessionCookie: undefined,
      }),
    ).toMatchObject({ allowed: false, status: 403, code: 'proxy_untrusted' });
    expect(
      await gate.authorize({ headers: fromPeer('127.0.0.1'), sessionCookie: undefined }),
    ).toMatchObject({
      allowed: false,
      status: 401,
    });
  });

  it('refuses a peer address it cannot verify (forged, or no startup hook)', async () => {
    const forged = new Headers({
      [PEER_HEADER]: '127.0.0.1',
      [PEER_PROOF_HEADER]: 'forged',
      'x-forwarded-user': 'ada',
    });
    expect(await gate.authorize({ headers: forged, sessionCookie: undefined })).toMatchObject({
      allowed: false,
      status: 503,
    });
  });
});

describe('the peer hook on a real HTTP server', () => {
  let server: Server;
  let url: string;
  const seen: Headers[] = [];
  beforeAll(async () => {
    installPeerHook(SECRET);
    server = createServer((request, response) => {
      seen.push(new Headers(request.headers as Record<string, string>));
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("stamps the socket's address and drops what the client claimed", async () => {
    await fetch(url, { headers: { [PEER_HEADER]: '10.0.0.1', [PEER_PROOF_HEADER]: 'x' } });
    const headers = seen.at(-1)!;
    expect(headers.get(PEER_HEADER)).toBe('127.0.0.1');
    expect(verifiedPeer(headers, SECRET)).toBe('127.0.0.1');
    expect(verifiedPeer(headers, Buffer.alloc(32, 9))).toBeUndefined();
  });
});

describe('startAccess', () => {
  const config = (access: BeamscopeConfig['access']): BeamscopeConfig => ({
    access,
    clusters: [],
    sourcePath: '/etc/beamscope/beamscope.yaml',
  });

  async function refusal(promise: Promise<unknown>): Promise<string> {
    const error = await promise.then(
      () => new Error('expected a refusal'),
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(BeamscopeError);
    expect((error as BeamscopeError).exitCode).toBe(78);
    return (error as Error).message;
  }

  it('refuses mode none off loopback, naming the file, the field and what to do', async () => {
    const message = await refusal(startAccess(config({ mode: 'none' }), { HOSTNAME: '0.0.0.0' }));
    expect(message).toBe(
      '/etc/beamscope/beamscope.yaml: access.mode: none (the default) is accepted only on a loopback address, but the server listens on 0.0.0.0 (HOSTNAME); set access.mode to token or proxy, or HOSTNAME=127.0.0.1',
    );
    // No HOSTNAME: the standalone server listens on 0.0.0.0.
    expect(await refusal(startAccess(config(undefined), {}))).toContain('listens on 0.0.0.0');
    expect((await startAccess(config({ mode: 'none' }), { HOSTNAME: '127.0.0.1' })).mode).toBe(
      'none',
    );
  });

  it('refuses a token it cannot read or that is too short, without printing it', async () => {
    expect(
      await refusal(startAccess(config({ mode: 'token', tokenEnv: 'T' }), { HOSTNAME: '0.0.0.0' })),
    ).toBe(
      '/etc/beamscope/beamscope.yaml: access.mode token: the environment variable T (access.tokenEnv) is missing or empty',
    );
    const short = await refusal(
      startAccess(config({ mode: 'token', tokenEnv: 'T' }), { T: 'shorty' }),
    );
    expect(short).toMatch(/shorter than 16 characters/);
    expect(short).not.toContain('shorty');
    expect(
      await refusal(startAccess(config({ mode: 'token', tokenFile: join(dir, 'missing') }), {})),
    ).toMatch(/cannot read the access token file .*missing \(access.tokenFile\): ENOENT/);
  });

  it('starts token and proxy mode on any address', async () => {
    expect(
      (
        await startAccess(config({ mode: 'token', tokenEnv: 'T' }), {
          T: TOKEN,
          HOSTNAME: '0.0.0.0',
        })
      ).mode,
    ).toBe('token');
    const proxy = {
      mode: 'proxy' as const,
      proxy: { header: 'X-Forwarded-User', trustedProxies: ['10.0.0.0/8'] },
    };
    expect((await startAccess(config(proxy), { HOSTNAME: '0.0.0.0' })).mode).toBe('proxy');
  });
});
