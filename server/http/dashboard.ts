import 'server-only';

import { dirname } from 'node:path';

import { z } from 'zod';

import {
  SANDBOX_APP_VERSIONS,
  type SandboxActionRequest,
  type SandboxStatusResponse,
} from '@/lib/api-sandbox';

import { BeamscopeError } from '../errors';
import { readSandboxState, SandboxControlClient } from '../sandbox/control-client';

/**
 * The sandbox this server runs on, if any: the configuration file `beamscope sandbox` wrote lives
 * in the sandbox's own folder, beside its live `sandbox.json`. A server configured any other way
 * has no sandbox panel and these calls answer `sandbox_unavailable`.
 */
export async function sandboxOf(configPath: string): Promise<SandboxControlClient | undefined> {
  const dir = dirname(configPath);
  if (!(await readSandboxState(dir))) return undefined;
  return SandboxControlClient.open(dir);
}

function unavailable(): BeamscopeError {
  return new BeamscopeError(
    'http',
    'sandbox_unavailable',
    'this server does not run on a sandbox (its configuration is not in a running sandbox folder)',
  );
}

/** `GET /api/sandbox`: whether there is a sandbox, and its pods. */
export async function sandboxStatus(configPath: string): Promise<SandboxStatusResponse> {
  const client = await sandboxOf(configPath);
  if (!client) return { available: false, pods: [] };
  const pods = await client.call<Array<{ name: string; ip: string; ready: boolean }>>(
    'GET',
    '/pods',
  );
  return {
    available: true,
    pods: pods.map((pod) => ({ name: pod.name, ip: pod.ip, ready: pod.ready })),
  };
}

const POD = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,252}$/, 'a pod name');

/** The actions the panel sends, validated at the edge. */
export const sandboxActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('scale'), replicas: z.number().int().min(0).max(50) }),
  z.object({ action: z.literal('kill'), pod: POD }),
  z.object({ action: z.literal('oom-kill'), pod: POD }),
  z.object({ action: z.literal('miscookie'), pod: POD, restore: z.boolean().optional() }),
  z.object({ action: z.literal('partition'), sides: z.array(z.array(POD).min(1)).min(2) }),
  z.object({ action: z.literal('heal') }),
  z.object({
    action: z.literal('app-version'),
    pod: POD,
    version: z.enum(SANDBOX_APP_VERSIONS),
  }),
  z.object({ action: z.literal('upgrade'), version: z.enum(SANDBOX_APP_VERSIONS) }),
]);

/**
 * `POST /api/sandbox`: one control action, forwarded to the sandbox's control API. `onParsed`
 * learns which action it is once the body passed the schema (the audit line names it).
 */
export async function sandboxAction(
  configPath: string,
  body: unknown,
  onParsed: (action: SandboxActionRequest['action']) => void = () => undefined,
): Promise<{ ok: true }> {
  const parsed = sandboxActionSchema.safeParse(body);
  if (!parsed.success) {
    throw new BeamscopeError(
      'http',
      'bad_request',
      `not a sandbox action: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')}`,
    );
  }
  const client = await sandboxOf(configPath);
  if (!client) throw unavailable();
  const action: SandboxActionRequest = parsed.data;
  onParsed(action.action);
  switch (action.action) {
    case 'scale':
      await client.call('POST', '/scale', { replicas: action.replicas });
      break;
    case 'kill':
      await client.call('POST', `/pods/${encodeURIComponent(action.pod)}/kill`);
      break;
    case 'oom-kill':
      await client.call('POST', `/pods/${encodeURIComponent(action.pod)}/oom-kill`);
      break;
    case 'miscookie':
      await client.call('POST', `/pods/${encodeURIComponent(action.pod)}/miscookie`, {
        restore: action.restore === true,
      });
      break;
    case 'partition':
      await client.call('POST', '/partition', { sides: action.sides });
      break;
    case 'heal':
      await client.call('POST', '/heal');
      break;
    case 'app-version':
      await client.call('POST', `/pods/${encodeURIComponent(action.pod)}/app-version`, {
        version: action.version,
      });
      break;
    case 'upgrade':
      await client.call('POST', '/upgrade', { version: action.version });
      break;
  }
  return { ok: true };
}
