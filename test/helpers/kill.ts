import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CliResult, collect, spawnCli } from './cli.js';

/** Journal lines of the one pair in a state directory. */
export function journalLines(stateDir: string): string[] {
  if (!existsSync(stateDir)) return [];
  for (const d of readdirSync(stateDir)) {
    const f = join(stateDir, d, 'journal.jsonl');
    if (existsSync(f)) return readFileSync(f, 'utf8').split('\n').filter(Boolean);
  }
  return [];
}

export function doneCount(stateDir: string): number {
  return journalLines(stateDir).filter((l) => l.includes('"t":"done"')).length;
}

/**
 * Runs the real CLI and SIGKILLs it once `when` holds (polled), like a crash or a reboot.
 * Returns whether the kill happened before the process ended by itself.
 */
export async function runAndKill(
  args: string[],
  env: NodeJS.ProcessEnv,
  when: () => boolean,
): Promise<{ killed: boolean; result: CliResult }> {
  const child = spawnCli(args, env);
  const done = collect(child);
  let finished = false;
  done.then(() => {
    finished = true;
  });
  let killed = false;
  while (!finished) {
    if (when()) {
      killed = child.kill('SIGKILL');
      break;
    }
    await sleep(5);
  }
  return { killed, result: await done };
}
