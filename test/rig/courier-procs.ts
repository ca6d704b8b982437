import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { courierPaths } from './courier-config.js';

/**
 * Processes of a Courier instance (test/rig/courier.ts): one unshare process leads a mount and
 * pid namespace; its child, pid 1 inside, runs start.sh. SIGKILL to the leader makes
 * unshare --kill-child kill pid 1, and the kernel then kills the rest of the namespace.
 */

/** The unshare process; pdeathsig ends it (and so the instance) if this process dies. */
export function launch(baseDir: string): number {
  const p = courierPaths(baseDir);
  const fd = openSync(p.logFile, 'a');
  try {
    const child = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'KILL',
        'unshare',
        '--mount',
        '--pid',
        '--kill-child=SIGKILL',
        '--propagation',
        'private',
        'bash',
        p.startScript,
      ],
      { stdio: ['ignore', fd, fd] },
    );
    child.on('error', () => {}); // reported through the missing greetings and the log
    child.unref();
    if (!child.pid) throw new Error('could not spawn setpriv/unshare for Courier');
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** Our unshare process, proven by its command line: a pid may be reused once it exited. */
export function isInstanceLeader(pid: number, baseDir: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    return argv[0]?.endsWith('unshare') === true && argv.includes(courierPaths(baseDir).startScript);
  } catch {
    return false;
  }
}

/** Host pid of the namespace's first process (bash running start.sh), once it exists. */
export function namespaceInit(leader: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8').trim();
    return Number(kids.split(' ')[0]) || undefined;
  } catch {
    return undefined;
  }
}

export function killLeader(leader: number, baseDir: string): void {
  if (!isInstanceLeader(leader, baseDir)) return;
  try {
    process.kill(leader, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Pids in the instance's pid namespace, found by the namespace's inode. */
export function namespacePids(pidNs: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) === pidNs) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return pids;
}

/** Wait until no process is left in the pid namespace; false when ms passed first. */
export async function waitNamespaceGone(pidNs: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (namespacePids(pidNs).length > 0) {
    if (Date.now() > until) return false;
    await sleep(25);
  }
  return true;
}
