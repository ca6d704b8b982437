import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CYRUS_BIN, cyrusPaths } from './cyrus-config.js';
import { pidsWhere } from './procs.js';

export const DIR_PREFIX = 'mailferry-cyrus-';

/**
 * Processes of one Cyrus instance: the master and every service and START command run from the
 * private root with our imapd.conf on the command line. Another instance, or a system Cyrus,
 * never matches.
 */
export function cyrusPids(imapdConf: string): number[] {
  return pidsWhere((argv) => !!argv[0]?.startsWith(`${CYRUS_BIN}/`) && argv.includes(imapdConf));
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM: the master takes its children down with it; a lone child is signalled directly. */
export function terminateCyrus(imapdConf: string): void {
  signal(cyrusPids(imapdConf), 'SIGTERM');
}

/** Terminate the instance and wait until no process of it is left, SIGKILL stragglers. */
export async function killCyrus(imapdConf: string): Promise<void> {
  terminateCyrus(imapdConf);
  if (await waitGone(imapdConf, 10_000)) return;
  signal(cyrusPids(imapdConf), 'SIGKILL');
  if (!(await waitGone(imapdConf, 5_000))) {
    throw new Error(`cyrus instance ${imapdConf} did not exit: ${cyrusPids(imapdConf).join(' ')}`);
  }
}

async function waitGone(imapdConf: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cyrusPids(imapdConf).length === 0) return true;
    await sleep(25);
  }
  return cyrusPids(imapdConf).length === 0;
}

/** The same, synchronously, for an exit handler: block in short sleeps. */
export function killCyrusSync(imapdConf: string): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  terminateCyrus(imapdConf);
  for (let i = 0; i < 250 && cyrusPids(imapdConf).length > 0; i++) Atomics.wait(nap, 0, 0, 20);
  signal(cyrusPids(imapdConf), 'SIGKILL');
}

function removeDir(baseDir: string): void {
  if (process.env.MAILFERRY_RIG_KEEP === '1') return;
  try {
    rmSync(baseDir, { recursive: true, force: true });
  } catch {
    // a straggler still writing; the temp dir stays
  }
}

/** Last resort if stop() never runs (vitest interrupted): stop the instance while exiting. */
export function killOnExit(baseDir: string): () => void {
  const handler = () => {
    killCyrusSync(cyrusPaths(baseDir).imapdConf);
    removeDir(baseDir);
  };
  process.once('exit', handler);
  return () => process.off('exit', handler);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Instances left by a run that was killed outright (no exit handler ran): their owner pid is gone.
 * Instances of other live runs on this machine are left alone.
 */
export function reapOrphans(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const baseDir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(cyrusPaths(baseDir).ownerFile, 'utf8').trim());
    } catch {
      continue; // being set up right now, or not ours
    }
    if (!owner || alive(owner)) continue;
    killCyrusSync(cyrusPaths(baseDir).imapdConf);
    removeDir(baseDir);
  }
}
