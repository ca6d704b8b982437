import { rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Endpoint } from '../endpoint.js';
import { acquireLock, type HeldLock } from '../run/lock.js';
import { pathError } from '../util/fs-errors.js';
import type { Logger } from '../util/log.js';
import { mkdirpSync } from '../util/path-kinds.js';

/** The lock file inside a pair's state directory. */
export const PAIR_LOCK = 'lock';
/** The lock beside a file archive, or inside a directory one. */
export const ARCHIVE_LOCK = '.mailferry.lock';

/**
 * Locks what a copy writes: the pair's state directory, then every archive it reads or
 * writes (a zip file, an mbox or Maildir directory). Throws exit 2 naming the running
 * process; whatever was taken before is released again.
 */
interface Side {
  side: 'source' | 'sink';
  endpoint: Endpoint;
  name: string;
}

export function lockTransfer(pairDir: string, sides: Side[], log: Logger): HeldLock[] {
  const locks: HeldLock[] = [];
  try {
    made(pairDir, 0o700, `write the state directory ${pairDir}`, 'check --state-dir and its permissions');
    locks.push(tidy(acquireLock(join(pairDir, PAIR_LOCK), 'this pair (its state directory)', log), pairDir));
    for (const s of sides) {
      const at = archiveLockFile(s.endpoint, s.side);
      // An archive copied onto itself is locked once.
      if (!at || locks.some((l) => l.file === at.file)) continue;
      const lock = lockArchive(at.file, s, log);
      if (lock) locks.push(at.created ? tidy(lock, at.created) : lock);
    }
    return locks;
  } catch (err) {
    releaseAll(locks);
    throw err;
  }
}

/**
 * A source archive on read-only media cannot be locked, nor written by anyone else: it is
 * read unlocked. A sink that cannot hold its lock cannot be written either: said as such.
 */
function lockArchive(file: string, s: Side, log: Logger): HeldLock | undefined {
  try {
    return acquireLock(file, `the archive ${s.name}`, log);
  } catch (err) {
    const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
    if (!cause?.code) throw err;
    if (s.side === 'sink')
      throw pathError(cause, `open the ${s.endpoint.kind} sink ${(s.endpoint as { path: string }).path}`);
    if (!['EROFS', 'EACCES', 'EPERM'].includes(cause.code)) throw err;
    log.debug(`${s.name}: read without a lock (${cause.code})`);
    return undefined;
  }
}

/** mkdir -p, failing as the checkpoint and the sinks did before the lock came first: exit 2, one line. */
function made(dir: string, mode: number, what: string, hint?: string): void {
  try {
    mkdirpSync(dir, mode);
  } catch (err) {
    throw pathError(err, what, hint);
  }
}

/** A run refused before it wrote anything leaves no empty directory (pair, mbox) behind. */
function tidy(lock: HeldLock, dir: string): HeldLock {
  return {
    file: lock.file,
    release() {
      lock.release();
      try {
        rmdirSync(dir);
      } catch {
        // not empty: the pair's journal is there
      }
    },
  };
}

export function releaseAll(locks: HeldLock[]): void {
  for (const l of [...locks].reverse()) l.release();
}

/**
 * Where an archive's lock lives. A file (zip, one mbox file) is locked beside itself; a
 * directory inside, so a directory whose parent is not ours still locks. A sink directory
 * that does not exist yet is created here: its lock must not move once a run has begun.
 */
export function archiveLockFile(
  endpoint: Endpoint,
  side: 'source' | 'sink',
): { file: string; created?: string } | undefined {
  if (!('path' in endpoint)) return undefined;
  const path = endpoint.path.replace(/\/+$/, '') || '/';
  if (endpoint.kind === 'zip') return { file: `${path}${ARCHIVE_LOCK}` };
  let isDir: boolean | undefined;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // missing: a source fails at open and says why; a sink directory is made below
  }
  if (isDir === false) return { file: `${path}${ARCHIVE_LOCK}` };
  if (isDir) return { file: join(path, ARCHIVE_LOCK) };
  if (side === 'source') return undefined;
  made(path, 0o777, `open the ${endpoint.kind} sink ${path}`);
  return { file: join(path, ARCHIVE_LOCK), created: path };
}
