import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { UsageError } from '../../errors.js';
import {
  type AddEntryOptions,
  AHEAD_ENTRY,
  diskError,
  GatheredWrites,
  type PreparedEntry,
  prepareEntry,
  toEntryRecord,
  writeCentralDirectory,
  writeEntryAt,
} from './entry-io.js';
import { type JournalEntry, type JournalRecord, ZipJournal } from './journal.js';
import { verifyLocalHeader } from './reader.js';
import type { EntryRecord } from './structures.js';

export interface ZipWriterOptions {
  /** Deflate level; 3 keeps nearly all of level 6's ratio on mail at ~1.35x the speed. */
  level?: number;
  /** fsync archive and journal (default true); tests of huge archives turn it off. */
  fsync?: boolean;
  /** Commit (fsync) once this many entries are pending... */
  groupEntries?: number;
  /** ...or this many bytes. */
  groupBytes?: number;
  /** Zip64 records and offsets even when nothing overflows (tests). */
  forceZip64?: boolean;
}

interface Pending {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export type { AddEntryOptions } from './entry-io.js';

export function journalPathOf(archivePath: string): string {
  return `${archivePath}.journal`;
}

/**
 * Zip writer that survives kill -9 and can be reopened to append. Each entry carries its
 * CRC and sizes in the local header (patched in place after streaming), and is journaled
 * only after the archive bytes are fsynced; reopening cuts the archive back to the end of
 * the last journaled entry. The central directory is written by finish(); a later run
 * removes it again (lazily, on its first change) and appends.
 */
export class ZipWriter {
  readonly entries: JournalEntry[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private broken: unknown;
  /** Archive currently ends with a central directory that must be cut before appending. */
  private finished = false;
  private changed = false;
  private readonly out: GatheredWrites;

  private constructor(
    private readonly fh: FileHandle,
    private readonly journal: ZipJournal,
    readonly path: string,
    private dataEnd: number,
    private readonly opts: Required<ZipWriterOptions>,
  ) {
    this.out = new GatheredWrites(fh, path, 0);
  }

  /** Open an archive for appending, creating it and its journal if neither exists. */
  static async open(
    path: string,
    options: ZipWriterOptions = {},
  ): Promise<{ writer: ZipWriter; records: JournalRecord[] }> {
    const opts = {
      level: 3,
      fsync: true,
      groupEntries: 64,
      groupBytes: 32 << 20,
      forceZip64: false,
      ...options,
    };
    const jpath = journalPathOf(path);
    const archiveSize = await sizeOf(path);
    const journalSize = await sizeOf(jpath);
    if (archiveSize !== undefined && archiveSize > 0 && journalSize === undefined) {
      throw new UsageError(`${path} exists but has no journal ${jpath}`, {
        hint: 'rebuild the journal from the finished archive, or choose a new file',
      });
    }
    if (archiveSize === undefined && journalSize) {
      throw new UsageError(`${path} is missing but its journal ${jpath} exists`, {
        hint: 'restore the archive, or delete the journal to start a new one',
      });
    }
    const { journal, records } = await ZipJournal.open(jpath, opts.fsync);
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600).catch(async (err) => {
      await journal.close();
      throw err;
    });
    try {
      const writer = new ZipWriter(fh, journal, path, 0, opts);
      await writer.recover(records);
      return { writer, records };
    } catch (err) {
      await fh.close();
      await journal.close();
      throw err;
    }
  }

  private async recover(records: JournalRecord[]): Promise<void> {
    let head = records[0];
    if (!head) {
      head = { t: 'head', v: 1, created: new Date().toISOString(), start: 0 };
      await this.fh.truncate(0);
      this.journal.add(head);
      await this.journal.flush();
      await this.syncDir();
    }
    if (head.t !== 'head' || head.v !== 1) {
      throw new UsageError(`${this.journal.path}: not a journal this version of mailferry can read`);
    }
    this.dataEnd = head.start;
    for (const rec of records) {
      if (rec.t === 'entry') {
        this.entries.push(rec);
        this.dataEnd = rec.end;
      }
    }
    const last = records.findLast((r) => r.t !== 'note');
    const lastFinish = records.findLastIndex((r) => r.t === 'finish');
    const size = (await this.fh.stat()).size;
    if (size < this.dataEnd) {
      throw new UsageError(
        `${this.path} is shorter than its journal says (${size} < ${this.dataEnd} bytes)`,
        {
          hint: 'the archive was truncated or replaced; restore it, or start a new archive',
        },
      );
    }
    const lastEntry = this.entries[this.entries.length - 1];
    if (lastEntry) await verifyLocalHeader(this.fh, lastEntry.offset, lastEntry.name, this.path);
    this.finished = last?.t === 'finish' && last.size === size;
    // Notes after the finish (folders, flags) are not in the manifest yet.
    this.changed = !this.finished || records.slice(lastFinish + 1).some((r) => r.t === 'note');
    // An interrupted run: drop the partial entry (or half-written directory) after the last journaled one.
    if (!this.finished && size !== this.dataEnd) await this.cutTo(this.dataEnd);
    this.out.reset(this.dataEnd);
  }

  /** Append one entry; resolves once its bytes and journal line are durable. */
  async addEntry(options: AddEntryOptions, body: Readable): Promise<JournalEntry> {
    // The body may fail while it waits its turn (a source connection reset); without a listener
    // that would crash the process. The error stays on the stream, and the pipeline rethrows it.
    body.on('error', () => {});
    // Small entries are read and compressed now, beside the entries ahead of them in the queue.
    const ahead = (options.sizeHint ?? Number.POSITIVE_INFINITY) <= AHEAD_ENTRY;
    const data = ahead ? prepareEntry(options, body, this.opts.level) : body;
    if (data instanceof Promise) data.catch(() => {}); // awaited in turn, in writeEntryAt
    const { entry, durable } = await this.serial(async () => {
      try {
        const rec = await this.appendEntry(options, data);
        const durable = new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject }));
        durable.catch(() => {}); // awaited below; avoid an unhandled rejection in the meantime
        this.pendingBytes += rec.end - rec.offset;
        return { entry: rec, durable };
      } finally {
        // Also after a failed entry: earlier entries of the group must not wait for ever.
        const full =
          this.pending.length >= this.opts.groupEntries || this.pendingBytes >= this.opts.groupBytes;
        if (this.pending.length && (this.waiting === 0 || full)) await this.commit();
      }
    });
    await durable;
    return entry;
  }

  /** Journal a caller record (folders, flag changes); resolves once durable. */
  async note(record: { kind: string; [key: string]: unknown }): Promise<void> {
    await this.serial(async () => {
      this.journal.add({ ...record, t: 'note' });
      this.changed = true;
      if (this.waiting === 0) await this.commit();
    });
  }

  /**
   * Write trailing entries (the manifest), the central directory and the end records, then
   * journal 'finish'. Without changes since the last finish the archive is left untouched.
   */
  async finish(trailer?: () => { options: AddEntryOptions; body: Readable }): Promise<void> {
    await this.serial(async () => {
      await this.commit();
      if (this.finished && !this.changed) return;
      await this.reopenIfFinished();
      const all: EntryRecord[] = this.entries.map(toEntryRecord);
      if (trailer) {
        const t = trailer();
        all.push(toEntryRecord(await writeEntryAt(this.out, this.opts.level, t.options, t.body)));
      }
      const size = await writeCentralDirectory(this.out, all, this.opts.forceZip64);
      await this.syncArchive();
      this.journal.add({ t: 'finish', dataEnd: this.dataEnd, size, entries: all.length });
      await this.journal.flush();
      this.finished = true;
      this.changed = false;
    });
  }

  async close(): Promise<void> {
    await this.tail;
    await this.fh.close();
    await this.journal.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    this.waiting++;
    const run = this.tail.then(() => {
      this.waiting--;
      if (this.broken) throw this.broken;
      return fn();
    });
    this.tail = run.catch(() => {});
    return run;
  }

  private async reopenIfFinished(): Promise<void> {
    if (!this.finished) return;
    // Journal first: a crash after the cut must not leave a journal claiming a finished archive.
    this.journal.add({ t: 'reopen', dataEnd: this.dataEnd });
    await this.journal.flush();
    await this.cutTo(this.dataEnd);
    this.finished = false;
  }

  private async cutTo(offset: number): Promise<void> {
    this.out.reset(offset);
    await this.fh.truncate(offset);
    await this.syncArchive();
  }

  private async appendEntry(
    options: AddEntryOptions,
    body: Readable | Promise<PreparedEntry>,
  ): Promise<JournalEntry> {
    await this.reopenIfFinished();
    const rec = await writeEntryAt(this.out, this.opts.level, options, body);
    this.dataEnd = rec.end;
    this.changed = true;
    this.entries.push(rec);
    this.journal.add(rec);
    return rec;
  }

  /** fsync the archive, then journal what is pending, then fsync the journal. */
  private async commit(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      if (pending.length) {
        await this.out.flush();
        await this.syncArchive();
      }
      await this.journal.flush();
    } catch (err) {
      // The journal and the archive may disagree now; stop, the next run recovers from the journal.
      this.broken = diskError(err, this.path);
      for (const p of pending) p.reject(this.broken);
      throw this.broken;
    }
    for (const p of pending) p.resolve();
  }

  private async syncArchive(): Promise<void> {
    if (this.opts.fsync) await this.fh.sync();
  }

  /** Make a new file's directory entry durable too. */
  private async syncDir(): Promise<void> {
    // Windows cannot open a directory for fsync (and does not need it).
    if (!this.opts.fsync || process.platform === 'win32') return;
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
