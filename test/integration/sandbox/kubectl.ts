import { execFile } from 'node:child_process';
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
