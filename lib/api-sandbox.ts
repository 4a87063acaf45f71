/** The JSON of the sandbox panel's API (`/api/sandbox`), shared by the route and the browser. */

/** `GET /api/sandbox`. */
export interface SandboxStatusResponse {
  /** Whether this server runs on a sandbox (else the panel is not shown). */
  available: boolean;
  pods: Array<{ name: string; ip: string; ready: boolean }>;
}

/** `POST /api/sandbox`: one control action. */
export type SandboxActionRequest =
  | { action: 'scale'; replicas: number }
  | { action: 'kill'; pod: string }
  | { action: 'oom-kill'; pod: string }
  | { action: 'miscookie'; pod: string; restore?: boolean }
  | { action: 'partition'; sides: string[][] }
  | { action: 'heal' };
