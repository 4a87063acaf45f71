/** The JSON of the sandbox panel's API (`/api/sandbox`), shared by the route and the browser. */

/** `GET /api/sandbox`. */
export interface SandboxStatusResponse {
  /** Whether this server runs on a sandbox (else the panel is not shown). */
  available: boolean;
  pods: Array<{ name: string; ip: string; ready: boolean }>;
}

/** The demo app's releases a sandbox pod can run (0.2.0 ships another `myapp_device`). */
export const SANDBOX_APP_VERSIONS = ['0.1.0', '0.2.0'] as const;
export type SandboxAppVersion = (typeof SANDBOX_APP_VERSIONS)[number];

/** `POST /api/sandbox`: one control action. */
export type SandboxActionRequest =
  | { action: 'scale'; replicas: number }
  | { action: 'kill'; pod: string }
  | { action: 'oom-kill'; pod: string }
  | { action: 'miscookie'; pod: string; restore?: boolean }
  | { action: 'partition'; sides: string[][] }
  | { action: 'heal' }
  /** Restart one pod on another release of the demo app: code skew. */
  | { action: 'app-version'; pod: string; version: SandboxAppVersion }
  /** A rolling upgrade: the pods replaced a step at a time by pods on `version`. */
  | { action: 'upgrade'; version: SandboxAppVersion };
