import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { UsageError } from '../errors.js';
import { pathError } from '../util/fs-errors.js';
import type { Logger } from '../util/log.js';

/**
 * One run at a time per pair and per archive: a lock file made with link(2), which fails
 * when the name exists, so the file is never seen half-written. The file names its owner;
 * an owner on this host whose process is gone (or from another boot) left a stale lock,
 * which the next run takes over with a note. An owner on another host cannot be checked
 * and is trusted.
 */
export interface LockOwner {
  pid: number;
  host: string;
  started: string;
  /** /proc/sys/kernel/random/boot_id: a lock from an earlier boot is stale. */
  boot?: string;
  /** Start time of the process in clock ticks since boot (/proc/PID/stat): tells a reused pid. */
  ticks?: string;
}

export interface HeldLock {
  readonly file: string;
  release(): void;
}

const held = new Set<string>();
let exitHook = false;

/** Takes the lock at `file`, or throws a one-line UsageError (exit 2) naming the running process. */
export function acquireLock(file: string, what: string, log: Logger): HeldLock {
  const me = selfOwner();
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, text)) return hold(file, text);
    const owner = readOwner(file);
    if (owner === 'gone') continue;
    if (!isStale(owner)) throw inUse(what, file, owner);
    if (takeOver(file, owner, text)) {
      log.warn(`took over a stale lock on ${what}: ${describe(owner)} is gone`);
      return hold(file, text);
    }
  }
  throw new UsageError(`cannot lock ${what}: ${file} keeps changing`, {
    hint: 'another mailferry is starting on it; try again',
  });
}

function hold(file: string, text: string): HeldLock {
  held.add(file);
  if (!exitHook) {
    exitHook = true;
    // process.exit() (a second Ctrl-C, the hard stop) skips finally blocks, not this.
    process.on('exit', () => {
      for (const f of held) unlinkQuietly(f);
    });
  }
  return {
    file,
    release() {
      if (!held.delete(file)) return;
      if (readText(file) === text) unlinkQuietly(file);
    },
  };
}

/** Writes the owner to a private name, then links it into place: EEXIST means taken. */
function tryCreate(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw pathError(err, `create the lock ${file}`);
  } finally {
    unlinkQuietly(tmp);
  }
}

/**
 * Two runs may find the same stale lock. Each must hold `<file>.break` (itself made with
 * link) to replace it, and replaces it only if it still holds the stale owner it read.
 */
function takeOver(file: string, stale: LockOwner | undefined, text: string): boolean {
  const breaker = `${file}.break`;
  if (!tryCreate(breaker, text)) {
    const other = readOwner(breaker);
    if (other !== 'gone' && isStale(other)) unlinkQuietly(breaker);
    return false;
  }
  try {
    const now = readOwner(file);
    if (now !== 'gone' && JSON.stringify(now) !== JSON.stringify(stale)) return false;
    unlinkQuietly(file);
    return tryCreate(file, text);
  } finally {
    unlinkQuietly(breaker);
  }
}

/** Who holds the lock at `file` now; undefined when nobody does (no file, or a stale one). */
export function lockHolder(file: string): LockOwner | undefined {
  const owner = readOwner(file);
  return owner === 'gone' || isStale(owner) ? undefined : owner;
}

/** The owner in a lock file; undefined when it cannot be read as one (damaged); 'gone' when removed meanwhile. */
function readOwner(file: string): LockOwner | undefined | 'gone' {
  const text = readText(file);
  if (text === undefined) return 'gone';
  try {
    const o = JSON.parse(text) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** A damaged lock file, or an owner on this host that no longer runs. */
export function isStale(owner: LockOwner | undefined): boolean {
  if (!owner) return true;
  if (owner.host !== hostname()) return false;
  const boot = bootId();
  if (owner.boot && boot && owner.boot !== boot) return true;
  if (!alive(owner.pid)) return true;
  const ticks = startTicks(owner.pid);
  return !!(owner.ticks && ticks && owner.ticks !== ticks);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(what: string, file: string, owner: LockOwner | undefined): UsageError {
  return new UsageError(`${what} is in use by ${describe(owner)}`, {
    hint: `wait for that run to finish; if it is gone, remove ${file}`,
  });
}

function describe(owner: LockOwner | undefined): string {
  if (!owner) return 'an unknown process';
  return `mailferry pid ${owner.pid} on ${owner.host} since ${owner.started}`;
}

function selfOwner(): LockOwner {
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const boot = bootId();
  if (boot) me.boot = boot;
  const ticks = startTicks(process.pid);
  if (ticks) me.ticks = ticks;
  return me;
}

function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim();
}

/** Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces). */
function startTicks(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
