import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The bundle users run (`npm run build` makes it), as its shebang runs it: the node flags and
 * environment there are part of what ships. Spawned with this node rather than the one on PATH.
 */
export function shippedCli(): { cmd: string; args: string[]; env: Record<string, string> } {
  const file = join(ROOT, 'dist/mailferry.mjs');
  const words = (readFileSync(file, 'utf8').split('\n', 1)[0] ?? '').split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const env = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split('=', 2)));
  return { cmd: process.execPath, args: [...flags, file], env };
}
