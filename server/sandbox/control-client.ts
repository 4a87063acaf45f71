import 'server-only';

import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { SANDBOX_CODES, type SandboxCode } from '@/lib/codes';

import { BeamscopeError } from '../errors';

const KNOWN_CODES: ReadonlySet<string> = new Set(SANDBOX_CODES);

/** A code read from the sandbox's reply, kept when it is one of ours. */
function sandboxCodeOf(code: string | undefined): SandboxCode {
  return code !== undefined && KNOWN_CODES.has(code) ? (code as SandboxCode) : 'control_failed';
}

/** The file a running `beamscope sandbox` writes into its folder so control commands find it. */
export const STATE_FILE = 'sandbox.json';

/** What {@link STATE_FILE} holds (mode 0600: the token drives the sandbox). */
export interface SandboxState {
  /** The `beamscope sandbox` process. */
  pid: number;
  /** `http(s)://127.0.0.1:PORT` of the emulated API, whose `/_sandbox/*` routes are the control API. */
  api: string;
  /** The API's CA (https only). */
  caFile?: string;
  /** A bearer token the control API accepts (beamscope's user). */
  token: string;
  namespace: string;
  /** The pods' epmd-less distribution port. */
  distPort: number;
  kubeconfig: string;
  config: string;
  cookieFile: string;
}

/**
 * The one fixed per-user folder `beamscope sandbox` and its control subcommands use without
 * `--dir`: `$BEAMSCOPE_SANDBOX_DIR`, else `~/.beamscope/sandbox`.
 */
export function defaultSandboxDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BEAMSCOPE_SANDBOX_DIR || join(homedir(), '.beamscope', 'sandbox');
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the state of the sandbox in `dir`; undefined when there is none or its process is gone. */
export async function readSandboxState(dir: string): Promise<SandboxState | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as SandboxState;
    if (typeof state.pid !== 'number' || typeof state.api !== 'string') return undefined;
    return processAlive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

function notRunning(dir: string, detail: string): BeamscopeError {
  return new BeamscopeError(
    'sandbox',
    'sandbox_not_running',
    `no sandbox is running in ${dir} (${detail}); start one with: beamscope sandbox --dir ${dir}`,
    { exitCode: 3 },
  );
}

/** A client of a running sandbox's control API (`/_sandbox/*`), found through its folder. */
export class SandboxControlClient {
  private constructor(
    readonly dir: string,
    readonly state: SandboxState,
    private readonly ca: Buffer | undefined,
  ) {}

  /** Finds the sandbox running in `dir`; a one-line `sandbox_not_running` error if there is none. */
  static async open(dir: string): Promise<SandboxControlClient> {
    const state = await readSandboxState(dir);
    if (!state) throw notRunning(dir, `no live ${STATE_FILE} there`);
    const ca = state.caFile ? await readFile(state.caFile).catch(() => undefined) : undefined;
    if (state.caFile && !ca) throw notRunning(dir, `its CA file ${state.caFile} is gone`);
    return new SandboxControlClient(dir, state, ca);
  }

  /**
   * One control call; resolves to the JSON reply, rejects with the sandbox's own error (code and
   * message) or a one-line `sandbox_not_running` when the API does not answer.
   */
  call<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    timeoutMs = 120_000,
  ): Promise<T> {
    const url = new URL(`/_sandbox${path}`, this.state.api);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const outgoing = send(
        url,
        {
          method,
          ...(this.ca ? { ca: this.ca } : {}),
          headers: {
            authorization: `Bearer ${this.state.token}`,
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': String(Buffer.byteLength(payload)),
                }),
          },
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            let reply: unknown;
            try {
              reply = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              reply = undefined;
            }
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(reply as T);
            const error = (reply as { error?: { code?: string; message?: string } } | undefined)
              ?.error;
            const message =
              error?.message ??
              (reply as { message?: string } | undefined)?.message ??
              `HTTP ${status}`;
            reject(
              new BeamscopeError('sandbox', sandboxCodeOf(error?.code), message, {
                exitCode: 1,
              }),
            );
          });
        },
      );
      outgoing.on('timeout', () =>
        outgoing.destroy(
          new BeamscopeError(
            'sandbox',
            'control_timeout',
            `the sandbox in ${this.dir} did not answer ${method} ${path} within ${timeoutMs / 1000} s`,
          ),
        ),
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof BeamscopeError) return reject(error);
        reject(
          notRunning(
            this.dir,
            `its control API at ${this.state.api} did not answer: ${error.code ?? error.message}`,
          ),
        );
      });
      outgoing.end(payload);
    });
  }
}
