import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export const root = join(import.meta.dirname, '..', '..', '..');

/**
 * Names no input of the dashboard may have (query parameter, page search parameter, body field,
 * path parameter): they would make it a remote code runner. The same list as read-only.test.ts.
 */
export const FORBIDDEN =
  /^(module|mod|function|func|fun|fn|mfa|args|arguments|argv|m|f|a|code|eval|expr)$/i;

/** Every file under `dir` (relative to the project, with `/`) whose name matches `pattern`. */
export async function filesUnder(
  dir: string,
  pattern = /\.(ts|tsx|mts|mjs|js)$/,
): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && pattern.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .filter((file) => !/(^|\/)(node_modules|\.next)\//.test(file))
    .sort();
}
