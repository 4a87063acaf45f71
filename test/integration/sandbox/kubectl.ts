import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The real kubectl of this machine; never a reimplementation. */
export const KUBECTL = '/usr/bin/kubectl';

/**
 * Runs `kubectl --kubeconfig FILE ARGS…` with its discovery cache in `cacheDir` (so tests leave
 * ~/.kube alone) and returns stdout and stderr; rejects with both when kubectl fails.
 */
export async function kubectl(
  kubeconfig: string,
  cacheDir: string,
  args: string[],
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(KUBECTL, ['--kubeconfig', kubeconfig, '--request-timeout=10s', ...args], {
      env: { ...process.env, KUBECACHEDIR: cacheDir },
      timeout: 20_000,
    });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${failure.stderr ?? failure.message}`, {
      cause: error,
    });
  }
}

/**
 * Writes a kubeconfig for the real kubectl to reach an emulated API over TLS: its CA inline, a
 * bearer token (the API's own unless `token` names another account), namespace `default`.
 * Returns the file's path. The file is 0600, as kubectl warns about anything looser.
 */
export async function writeKubeconfig(
  file: string,
  api: { url: string; caPem?: string; token: string },
  token = api.token,
): Promise<string> {
  if (!api.caPem) throw new Error('writeKubeconfig: the emulated API was started without TLS');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: sandbox',
      '  cluster:',
      `    server: ${api.url}`,
      `    certificate-authority-data: ${Buffer.from(api.caPem).toString('base64')}`,
      'users:',
      '- name: sandbox',
      `  user: {token: ${token}}`,
      'contexts:',
      '- name: sandbox',
      '  context: {cluster: sandbox, user: sandbox, namespace: default}',
      'current-context: sandbox',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}
