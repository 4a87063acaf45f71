import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateCertificates, type GeneratedCertificates } from '@/server/sandbox/certs';
import { startEmulatedApi } from '@/server/sandbox/kube-api';

const run = promisify(execFile);

describe('generateCertificates', () => {
  let dir: string;
  let certs: GeneratedCertificates;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-certs-'));
    certs = await generateCertificates(dir, {
      commonName: 'sandbox',
      ipAddresses: ['127.0.0.1'],
      dnsNames: ['localhost'],
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('signs the server and client certificates with the CA, with the SANs asked for', async () => {
    const verify = await run('openssl', [
      'verify',
      '-CAfile',
      certs.caFile,
      certs.certFile,
      certs.clientCertFile,
    ]);
    expect(verify.stdout).toContain(`${certs.certFile}: OK`);
    expect(verify.stdout).toContain(`${certs.clientCertFile}: OK`);
    const text = await run('openssl', ['x509', '-in', certs.certFile, '-noout', '-text']);
    expect(text.stdout).toContain('DNS:localhost');
    expect(text.stdout).toContain('IP Address:127.0.0.1');
    expect(certs.caPem).toBe(await readFile(certs.caFile, 'utf8'));
  });

  it('keeps no CA private key once the certificates are signed', async () => {
    expect((await readdir(dir)).sort()).toEqual(
      ['ca.pem', 'cert.pem', 'client-cert.pem', 'client-key.pem', 'key.pem'].sort(),
    );
  });

  it('serves mutual TLS that Node verifies against the CA', async () => {
    const server = createServer(
      {
        cert: await readFile(certs.certFile),
        key: await readFile(certs.keyFile),
        ca: certs.caPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (_req, res) => res.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const clientCert = await readFile(certs.clientCertFile);
      const clientKey = await readFile(certs.clientKeyFile);
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, ca: certs.caPem, cert: clientCert, key: clientKey },
          (res) => {
            let data = '';
            res.on('data', (chunk: Buffer) => (data += chunk.toString()));
            res.on('end', () => resolve(data));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('ok');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("the emulated API's TLS mode", () => {
  it('serves HTTPS signed by its CA, and keeps the CA file only while it runs', async () => {
    const api = await startEmulatedApi({ tls: true });
    try {
      expect(api.url).toMatch(/^https:/);
      expect(await readFile(api.caFile!, 'utf8')).toBe(api.caPem);
      const version = await new Promise<string>((resolve, reject) => {
        request(`${api.url}/version`, { ca: api.caPem }, (res) => {
          let data = '';
          res.on('data', (chunk: Buffer) => (data += chunk.toString()));
          res.on('end', () => resolve(data));
        })
          .on('error', reject)
          .end();
      });
      expect(JSON.parse(version)).toMatchObject({ major: '1' });
      await api.stop();
      await expect(access(api.caFile!)).rejects.toMatchObject({ code: 'ENOENT' });
      await api.start();
      expect(await readFile(api.caFile!, 'utf8')).toBe(api.caPem);
    } finally {
      await api.stop();
    }
  });

  it('stops with a connection still in its TLS handshake, and closes that connection', async () => {
    // A sandbox pod connecting as the sandbox stops: the HTTPS server does not count the
    // connection as HTTP's until the handshake is done, and server.close() waits for it.
    const api = await startEmulatedApi({ tls: true });
    const { hostname, port } = new URL(api.url);
    const socket = connect(Number(port), hostname);
    try {
      await once(socket, 'connect');
      const socketClosed = once(socket, 'close');
      const outcome = await Promise.race([
        api.stop().then(() => 'stopped'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000)),
      ]);
      expect(outcome).toBe('stopped');
      await socketClosed;
      expect(socket.destroyed).toBe(true);
      await expect(access(api.caFile!)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      socket.destroy();
      await api.stop();
    }
  });
});
