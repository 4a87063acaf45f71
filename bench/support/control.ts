/**
 * The sandbox's control API (`/_sandbox/*`) over one kept-alive TLS connection. The e2e helper's
 * `control()` opens a new TLS connection per call; here a change's time is taken when its request
 * is sent, so a handshake in front of every change would count against beamscope.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';

import { parse } from 'yaml';

/** A pod as `GET /_sandbox/pods` lists it. */
export interface SandboxPod {
  name: string;
  uid: string;
  ip: string;
  nodeName: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
}

/** What a control call returned and when: `sentAt` ≤ the change's commit ≤ `repliedAt`. */
export interface ControlReply<T> {
  body: T;
  /** `Date.now()` just before the request was written. */
  sentAt: number;
  /** `Date.now()` when the whole reply was in. */
  repliedAt: number;
  /**
   * The commit time the emulator reports (`at`, ms since the epoch), when its reply carries
   * one; otherwise `sentAt`, which can only make a latency look longer, never shorter.
   */
  changedAt: number;
}

export interface ControlClient {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<ControlReply<T>>;
  pods(): Promise<SandboxPod[]>;
  close(): void;
}

/** A control client for the sandbox whose API is `api`, trusting its kubeconfig's CA. */
export async function controlClient(
  api: string,
  kubeconfigPath: string,
  token: string,
): Promise<ControlClient> {
  const kubeconfig = parse(await readFile(kubeconfigPath, 'utf8')) as {
    clusters: Array<{ cluster: { 'certificate-authority-data'?: string } }>;
  };
  const caData = kubeconfig.clusters[0]?.cluster['certificate-authority-data'];
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 4,
    ...(caData ? { ca: Buffer.from(caData, 'base64') } : {}),
  });
  const call = <T>(method: string, path: string, body?: unknown): Promise<ControlReply<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const outgoing = request(
        new URL(`${api}/_sandbox${path}`),
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            ...(payload ? { 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => {
            const repliedAt = Date.now();
            const status = response.statusCode ?? 0;
            if (status >= 400) {
              reject(new Error(`sandbox ${method} ${path}: ${status} ${text.slice(0, 300)}`));
              return;
            }
            const parsed = (text ? JSON.parse(text) : null) as T;
            const at = (parsed as { at?: unknown } | null)?.at;
            resolve({
              body: parsed,
              sentAt,
              repliedAt,
              changedAt: typeof at === 'number' && at >= sentAt && at <= repliedAt ? at : sentAt,
            });
          });
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      const sentAt = Date.now();
      outgoing.end(payload);
    });
  return {
    call,
    async pods() {
      return (await call<SandboxPod[]>('GET', '/pods')).body;
    },
    close() {
      agent.destroy();
    },
  };
}
