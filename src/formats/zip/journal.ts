import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { UsageError } from '../../errors.js';

/** One journal line. 'entry' and 'finish' belong to the writer; other kinds are the caller's notes. */
export type JournalRecord =
  | { t: 'head'; v: 1; created: string; start: number }
  | JournalEntry
  | { t: 'finish'; dataEnd: number; size: number; entries: number }
  | { t: 'reopen'; dataEnd: number }
  | { t: 'note'; kind: string; [key: string]: unknown };

export interface JournalEntry {
  t: 'entry';
  name: string;
  offset: number;
  /** End of the entry's data: the next entry starts here. */
  end: number;
  method: number;
  crc: number;
  csize: number;
  size: number;
  /** Entry mtime, ms since the epoch. */
  mtime: number;
  meta?: Record<string, unknown>;
}

/**
 * Append-only JSON-lines file beside the archive. A line counts only once it is complete
 * and fsynced; a torn last line (crash mid-write) is cut off when the journal is opened.
 */
export class ZipJournal {
  private pending: string[] = [];

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private size: number,
    private readonly sync: boolean,
  ) {}

  /** Open (or create, mode 0600) and return the records that survived. */
  static async open(path: string, sync: boolean): Promise<{ journal: ZipJournal; records: JournalRecord[] }> {
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const { records, goodBytes, size } = await readJournal(fh, path);
      if (goodBytes < size) {
        await fh.truncate(goodBytes);
        if (sync) await fh.sync();
      }
      return { journal: new ZipJournal(fh, path, goodBytes, sync), records };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Queue a line; it is written by the next flush(). */
  add(record: JournalRecord): void {
    this.pending.push(`${JSON.stringify(record)}\n`);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const data = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    await this.fh.write(data, 0, data.length, this.size);
    this.size += data.length;
    if (this.sync) await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Parse line by line in 1 MiB reads: a journal of a million messages never becomes one string. */
async function readJournal(
  fh: FileHandle,
  path: string,
): Promise<{ records: JournalRecord[]; goodBytes: number; size: number }> {
  const records: JournalRecord[] = [];
  const buf = Buffer.alloc(1 << 20);
  let carry = Buffer.alloc(0);
  let pos = 0;
  let goodBytes = 0;
  let torn = false;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    let data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      const rec = parseLine(data.subarray(0, nl));
      if (torn || !rec) {
        // Only the final line may be torn by a crash; damage before it means someone edited the file.
        if (torn) throw corrupt(path, records.length + 1);
        torn = true;
      } else {
        records.push(rec);
        goodBytes += nl + 1;
      }
      data = data.subarray(nl + 1);
    }
    carry = Buffer.from(data);
  }
  if (torn && carry.length > 0) throw corrupt(path, records.length + 1);
  return { records, goodBytes, size: pos };
}

function parseLine(line: Buffer): JournalRecord | undefined {
  try {
    const rec = JSON.parse(line.toString('utf8')) as JournalRecord;
    return rec && typeof rec === 'object' && typeof rec.t === 'string' ? rec : undefined;
  } catch {
    return undefined;
  }
}

function corrupt(path: string, line: number): UsageError {
  return new UsageError(`corrupt zip journal ${path}: bad line ${line}`, {
    hint: 'restore the journal, or delete it to rebuild it from the finished archive',
  });
}
