import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The bundle users run (`npm run build` makes it), as its shebang runs it: the node flags
 * there are part of what ships. Spawned with this node rather than the one on PATH.
 */
export function shippedCli(): { cmd: string; args: string[] } {
  const file = join(ROOT, 'dist/mailferry.mjs');
  const shebang = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const flags = shebang.split(/\s+/).filter((w) => w.startsWith('--'));
  return { cmd: process.execPath, args: [...flags, file] };
}
