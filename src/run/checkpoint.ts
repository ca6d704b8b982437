import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { KnownCopy } from '../plan/diff.js';
import type { FolderStatus } from '../types.js';
import { pathError } from '../util/fs-errors.js';
import { mkdirpSync } from '../util/path-kinds.js';

/** One journal line. The journal is append-only; a torn last line (a crash mid-write) is dropped. */
export type JournalRecord =
  | { t: 'run'; at: string; pid: number }
  | { t: 'intent'; f: string; id: string }
  | { t: 'done'; f: string; id: string; key: string; to: string; sid?: string; size: number }
  | { t: 'deleted'; f: string; ids: string[] }
  | { t: 'folder'; f: string; status: FolderStatus; sink?: FolderStatus }
  | { t: 'end'; at: string; copied: number; failed: number; exit: number };

export interface PairInfo {
  source: string;
  sink: string;
  created: string;
}

export interface FolderRecord {
  status: FolderStatus;
  sink?: FolderStatus;
}

/** Replays the journal into what the planner and executor need. */
export class CheckpointState {
  readonly known = new Map<string, Map<string, KnownCopy>>();
  readonly folders = new Map<string, FolderRecord>();
  readonly deleted = new Map<string, Set<string>>();
  readonly inFlight = new Map<string, Set<string>>();
  lastEnd?: Extract<JournalRecord, { t: 'end' }>;
  runs = 0;

  apply(r: JournalRecord): void {
    switch (r.t) {
      case 'run':
        this.runs++;
        this.lastEnd = undefined;
        break;
      case 'intent':
        setOf(this.inFlight, r.f).add(r.id);
        break;
      case 'done': {
        mapOf(this.known, r.f).set(r.id, r.sid ? { key: r.key, sinkId: r.sid } : { key: r.key });
        this.inFlight.get(r.f)?.delete(r.id);
        break;
      }
      case 'deleted':
        for (const id of r.ids) setOf(this.deleted, r.f).add(id);
        break;
      case 'folder':
        this.folders.set(r.f, r.sink ? { status: r.status, sink: r.sink } : { status: r.status });
        break;
      case 'end':
        this.lastEnd = r;
        break;
    }
  }

  knownIn(folder: string): ReadonlyMap<string, KnownCopy> {
    return this.known.get(folder) ?? new Map();
  }
}

function mapOf<V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> {
  let v = m.get(k);
  if (!v) {
    v = new Map();
    m.set(k, v);
  }
  return v;
}
function setOf(m: Map<string, Set<string>>, k: string): Set<string> {
  let v = m.get(k);
  if (!v) {
    v = new Set();
    m.set(k, v);
  }
  return v;
}

/** State directory of one (source, sink) pair: named by a hash of the endpoints, which carry no secrets. */
export function pairDir(stateDir: string, source: string, sink: string): string {
  const h = createHash('sha256').update(`${source}\n${sink}`).digest('hex').slice(0, 16);
  return join(stateDir, h);
}

export function parseJournal(text: string, file: string): JournalRecord[] {
  const lines = text.split('\n');
  const out: JournalRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as JournalRecord);
    } catch {
      // Only the last line can be torn by a crash; anything earlier means the file was damaged.
      if (lines.slice(i + 1).every((l) => !l)) break;
      throw new UsageError(`corrupt checkpoint ${file}: line ${i + 1} is not valid`, {
        hint: 'move the state directory away to start over; the sink is checked, so nothing is copied twice',
      });
    }
  }
  return out;
}

/** A crash may leave a line without its newline: cut it, so appends start on a fresh line. */
function cutTornTail(file: string): void {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return;
  }
  if (buf.length && buf[buf.length - 1] !== 0x0a) truncateSync(file, buf.lastIndexOf(0x0a) + 1);
}

/**
 * The crash-safe journal of one pair. Lines are written at once and fsynced in batches:
 * a `done` line lost in a crash costs nothing, because the planner matches against what
 * the sink holds before copying again.
 */
export class Checkpoint {
  readonly dir: string;
  readonly state = new CheckpointState();
  private fd: number | undefined;
  private unsynced = 0;
  private timer: NodeJS.Timeout | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static load(stateDir: string, source: string, sink: string): Checkpoint {
    const cp = new Checkpoint(pairDir(stateDir, source, sink));
    const file = join(cp.dir, 'journal.jsonl');
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new UsageError(`cannot read checkpoint ${file}: ${(err as NodeJS.ErrnoException).code}`, {
          hint: 'check --state-dir and its permissions',
        });
      }
    }
    for (const r of parseJournal(text, file)) cp.state.apply(r);
    return cp;
  }

  /** Opens the journal for writing; read-only commands (plan, verify) never call this. */
  open(source: string, sink: string): void {
    try {
      this.openJournal(source, sink);
    } catch (err) {
      throw pathError(err, `write the state directory ${this.dir}`, 'check --state-dir and its permissions');
    }
  }

  private openJournal(source: string, sink: string): void {
    mkdirpSync(this.dir, 0o700);
    const info = join(this.dir, 'pair.json');
    const pair: PairInfo = { source, sink, created: new Date().toISOString() };
    try {
      readFileSync(info);
    } catch {
      writeFileSync(`${info}.tmp`, `${JSON.stringify(pair, null, 2)}\n`, { mode: 0o600 });
      renameSync(`${info}.tmp`, info);
    }
    const file = join(this.dir, 'journal.jsonl');
    cutTornTail(file);
    this.fd = openSync(file, 'a', 0o600);
    this.append({ t: 'run', at: new Date().toISOString(), pid: process.pid });
  }

  append(r: JournalRecord, durable = false): void {
    this.state.apply(r);
    if (this.fd === undefined) return;
    writeSync(this.fd, `${JSON.stringify(r)}\n`);
    this.unsynced++;
    if (durable || this.unsynced >= 256) this.sync();
    else this.timer ??= setTimeout(() => this.sync(), 1000).unref();
  }

  sync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.fd === undefined || this.unsynced === 0) return;
    fsyncSync(this.fd);
    this.unsynced = 0;
  }

  close(): void {
    this.sync();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
