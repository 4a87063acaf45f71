import 'server-only';

import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BeamscopeError } from '../errors';

const run = promisify(execFile);

/** Names and addresses the server certificate is valid for. */
export interface CertificateOptions {
  /** The subject CN of the server certificate (also used, suffixed, for the CA and the client). */
  commonName: string;
  /** IP SANs of the server certificate, e.g. `['127.0.0.1']`. */
  ipAddresses?: string[];
  /** DNS SANs of the server certificate, e.g. `['localhost']`. */
  dnsNames?: string[];
}

/** PEM files written by {@link generateCertificates}; every path is absolute when `dir` is. */
export interface GeneratedCertificates {
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

const DAYS = '825';

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 20_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new BeamscopeError(
      'sandbox',
      'openssl_failed',
      `openssl ${args[0]} failed${stderr ? `: ${stderr.split('\n')[0]}` : ''}`,
      { cause: error },
    );
  }
}

/** An EC P-256 key and a certificate signing request for `subject`. */
async function keyAndRequest(keyFile: string, csrFile: string, subject: string): Promise<void> {
  await openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    csrFile,
    '-subj',
    subject,
  ]);
}

/** Signs `csrFile` with the CA, adding the X.509 v3 extensions in `extensions` (config syntax). */
async function sign(
  dir: string,
  csrFile: string,
  certFile: string,
  extensions: string[],
  basename: string,
): Promise<void> {
  const extFile = join(dir, `${basename}.ext`);
  await writeFile(extFile, extensions.join('\n') + '\n', { mode: 0o600 });
  await openssl([
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    join(dir, 'ca.pem'),
    '-CAkey',
    join(dir, 'ca-key.pem'),
    '-CAcreateserial',
    '-CAserial',
    join(dir, 'ca.srl'),
    '-days',
    DAYS,
    '-sha256',
    '-extfile',
    extFile,
    '-out',
    certFile,
  ]);
  await rm(extFile, { force: true });
  await rm(csrFile, { force: true });
}

/**
 * Writes a fresh CA, a server certificate for the given SANs and a client certificate, all signed
 * by that CA, into `dir` (created if missing) using the `openssl` CLI. Keys are EC P-256 in PKCS#8
 * PEM, which Node's TLS, Erlang's `ssl` and kubectl all read. The server certificate carries both
 * serverAuth and clientAuth: a TLS distribution node is server and client with the same cert.
 */
export async function generateCertificates(
  dir: string,
  options: CertificateOptions,
): Promise<GeneratedCertificates> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const clientCertFile = join(dir, 'client-cert.pem');
  const clientKeyFile = join(dir, 'client-key.pem');
  const cn = options.commonName.replace(/[/=\\]/g, '_');

  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    caKeyFile,
    '-out',
    caFile,
    '-days',
    DAYS,
    '-sha256',
    '-subj',
    `/CN=${cn} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-addext',
    'subjectKeyIdentifier=hash',
  ]);

  const sans = [
    ...(options.dnsNames ?? []).map((name) => `DNS:${name}`),
    ...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`),
  ];
  const serverCsr = join(dir, 'server.csr');
  await keyAndRequest(keyFile, serverCsr, `/CN=${cn}`);
  await sign(
    dir,
    serverCsr,
    certFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'authorityKeyIdentifier=keyid',
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
    ],
    'server',
  );

  const clientCsr = join(dir, 'client.csr');
  await keyAndRequest(clientKeyFile, clientCsr, `/CN=${cn} client`);
  await sign(
    dir,
    clientCsr,
    clientCertFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
      'authorityKeyIdentifier=keyid',
    ],
    'client',
  );
  // The CA signs these two and nothing after them: its private key is not left on disk, where a
  // sandbox stopped by SIGKILL would leave it in the temporary folder.
  await rm(caKeyFile, { force: true });
  await rm(join(dir, 'ca.srl'), { force: true });

  return {
    caFile,
    caPem: await readFile(caFile, 'utf8'),
    certFile,
    keyFile,
    clientCertFile,
    clientKeyFile,
  };
}
