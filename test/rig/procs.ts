import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Pids of every process whose command line (argv) matches; ones that vanish meanwhile are skipped. */
export function pidsWhere(match: (argv: string[]) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (match(argv)) pids.push(Number(entry));
  }
  return pids;
}

/**
 * Processes of one Dovecot instance: its master (started with our config file) and the children,
 * whose titles start with "dovecot-<instance_name>/". Nothing else is ever matched, so the
 * system's own Dovecot is left alone.
 */
export function instancePids(instance: string, configFile: string): number[] {
  return pidsWhere(
    (argv) =>
      !!argv[0]?.startsWith(`dovecot-${instance}/`) ||
      (!!argv[0]?.endsWith('dovecot') && argv.includes(configFile)),
  );
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM the master (the others follow it), or every instance process when the master is gone.
 * Only pids whose command line proves they belong to the instance are signalled: a stale pid file
 * may name an unrelated process by now.
 */
export function terminateInstance(instance: string, configFile: string, masterPid?: number): void {
  const pids = instancePids(instance, configFile);
  if (masterPid && pids.includes(masterPid)) signal(masterPid, 'SIGTERM');
  else for (const pid of pids) signal(pid, 'SIGTERM');
}

/** Terminate the instance, wait for every process of it to exit, SIGKILL stragglers. */
export async function killInstance(instance: string, configFile: string, masterPid?: number): Promise<void> {
  terminateInstance(instance, configFile, masterPid);
  if (await waitGone(instance, configFile, 10_000)) return;
  for (const pid of instancePids(instance, configFile)) signal(pid, 'SIGKILL');
  if (!(await waitGone(instance, configFile, 5_000))) {
    throw new Error(
      `dovecot instance ${instance} did not exit: ${instancePids(instance, configFile).join(' ')}`,
    );
  }
}

async function waitGone(instance: string, configFile: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (instancePids(instance, configFile).length === 0) return true;
    await sleep(25);
  }
  return instancePids(instance, configFile).length === 0;
}
