import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { LimitError, MessageError } from '../../errors.js';
import { crc32 } from './crc.js';
import type { JournalEntry } from './journal.js';
import { deflatePieces, PieceDeflater } from './pieces.js';
import {
  type EntryRecord,
  encodeCentralHeader,
  encodeEnd,
  encodeLocalHeader,
  LOCAL_CRC_OFFSET,
  METHOD_DEFLATE,
  METHOD_STORE,
  patchLocalSizes,
  U32_MAX,
} from './structures.js';

export interface AddEntryOptions {
  name: string;
  mtime: Date;
  method?: 'deflate' | 'store';
  /** Sees every uncompressed chunk (e.g. a hasher). */
  onData?: (chunk: Buffer) => void;
  /** Caller data journaled with the entry; called once the data is written. */
  meta?: () => Record<string, unknown>;
  /** Expected size: entries up to AHEAD_ENTRY are read whole and deflated ahead (off the main thread). */
  sizeHint?: number;
}

/**
 * Entries up to this size (by their hint) are read whole as soon as they are added and deflated
 * on zlib's thread pool while earlier entries are still being written: the main thread goes on
 * with the next message meanwhile. Larger ones stream, in pieces (pieces.ts).
 */
export const AHEAD_ENTRY = 1024 * 1024;

/** An entry's bytes, read and compressed ahead of its turn. */
export interface PreparedEntry {
  crc: number;
  size: number;
  /** What goes into the archive after the local header (compressed, or stored as is). */
  data: Buffer[];
}

/** Read `body` whole (CRC, size, onData on the way) and compress it; see AHEAD_ENTRY. */
export async function prepareEntry(
  options: AddEntryOptions,
  body: AsyncIterable<Buffer | string>,
  level: number,
): Promise<PreparedEntry> {
  const tap = new CrcTap(options.onData);
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    // Copied when stored: a source may reuse its buffers.
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    tap.see(buf);
    chunks.push(buf);
  }
  const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const data = options.method === 'store' ? [Buffer.from(raw)] : await deflatePieces(raw, level);
  return { crc: tap.crc, size: tap.size, data };
}

/**
 * Stream one entry at the end of `out`. Small entries stay in memory with their final header
 * until `out` is flushed (at the next commit: many messages, one write); a large one is
 * written as it comes and its header patched in place at the end. On any failure the entry
 * is discarded, on disk or in memory, and the error rethrown. `body` is either the stream or
 * what prepareEntry() made of it.
 */
export async function writeEntryAt(
  out: GatheredWrites,
  level: number,
  options: AddEntryOptions,
  body: Readable | Promise<PreparedEntry>,
): Promise<JournalEntry> {
  const offset = out.end;
  const method = options.method === 'store' ? METHOD_STORE : METHOD_DEFLATE;
  const header = encodeLocalHeader({ ...options, method, crc: 0, compressedSize: 0, size: 0 });
  try {
    out.push(header);
    const { crc, size } = await writeData(out, level, options, body);
    const csize = out.end - offset - header.length;
    if (size >= U32_MAX || csize >= U32_MAX) {
      throw new MessageError('ETOOBIG', `${options.name}: 4 GiB or more, too big for a zip entry`);
    }
    const sizes = patchLocalSizes(crc, csize, size);
    if (out.flushed <= offset) sizes.copy(header, LOCAL_CRC_OFFSET);
    else await out.writeAt(sizes, offset + LOCAL_CRC_OFFSET);
    return {
      t: 'entry',
      name: options.name,
      offset,
      end: out.end,
      method,
      crc,
      csize,
      size,
      mtime: options.mtime.getTime(),
      ...(options.meta ? { meta: options.meta() } : {}),
    };
  } catch (err) {
    await out.discardFrom(offset).catch(() => {});
    throw diskError(err, out.path);
  }
}

/** The entry's data after its header; returns CRC and size of the uncompressed bytes. */
async function writeData(
  out: GatheredWrites,
  level: number,
  options: AddEntryOptions,
  body: Readable | Promise<PreparedEntry>,
): Promise<{ crc: number; size: number }> {
  if (body instanceof Promise) {
    const prepared = await body;
    for (const piece of prepared.data) await out.add(piece);
    return prepared;
  }
  if ((options.sizeHint ?? Number.POSITIVE_INFINITY) <= AHEAD_ENTRY) {
    return writeData(out, level, options, prepareEntry(options, body, level));
  }
  const tap = new CrcTap(options.onData);
  const deflater = options.method === 'store' ? undefined : new PieceDeflater(level, (p) => out.add(p));
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    tap.see(buf);
    // Stored bytes are copied: a source may reuse its buffers.
    await (deflater ? deflater.write(buf) : out.add(Buffer.from(buf)));
  }
  await deflater?.end();
  return tap;
}

const GATHER_BYTES = 1 << 20;

/** Appends to the archive gathered into writes of about 1 MiB; the file ends at `flushed`. */
export class GatheredWrites {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    /** Everything before this offset is written; nothing after it. */
    public flushed: number,
  ) {}

  get end(): number {
    return this.flushed + this.bytes;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  async add(chunk: Buffer): Promise<void> {
    this.push(chunk);
    if (this.bytes >= GATHER_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    await this.fh.write(buf, 0, buf.length, this.flushed);
    this.flushed += buf.length;
    this.chunks = [];
    this.bytes = 0;
  }

  async writeAt(data: Buffer, position: number): Promise<void> {
    await this.fh.write(data, 0, data.length, position);
  }

  /** Drop everything from `offset` on, whether still in memory or already written. */
  async discardFrom(offset: number): Promise<void> {
    if (offset < this.flushed) {
      this.reset(offset);
      await this.fh.truncate(offset);
      return;
    }
    let keep = offset - this.flushed;
    const kept: Buffer[] = [];
    for (const c of this.chunks) {
      if (keep <= 0) break;
      kept.push(c.length <= keep ? c : c.subarray(0, keep));
      keep -= c.length;
    }
    this.chunks = kept;
    this.bytes = offset - this.flushed;
  }

  /** Forget the buffer; the file now ends at `offset` (the caller truncated it). */
  reset(offset: number): void {
    this.chunks = [];
    this.bytes = 0;
    this.flushed = offset;
  }
}

/** Central directory and end records at the end of `out`, flushed; returns the archive size. */
export async function writeCentralDirectory(
  out: GatheredWrites,
  all: EntryRecord[],
  forceZip64: boolean,
): Promise<number> {
  const cdOffset = out.end;
  for (const e of all) await out.add(encodeCentralHeader(e, forceZip64));
  out.push(encodeEnd({ entries: all.length, cdOffset, cdSize: out.end - cdOffset }, forceZip64));
  await out.flush();
  return out.flushed;
}

/** Computes CRC-32 and size of the uncompressed bytes on their way to deflate. */
class CrcTap {
  crc = 0;
  size = 0;

  constructor(private readonly onData?: (chunk: Buffer) => void) {}

  see(chunk: Buffer): void {
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    this.onData?.(chunk);
  }
}

export function toEntryRecord(e: JournalEntry): EntryRecord {
  return {
    name: e.name,
    offset: e.offset,
    method: e.method,
    crc: e.crc,
    compressedSize: e.csize,
    size: e.size,
    mtime: new Date(e.mtime),
  };
}

/** A full disk or quota stops the run resumably (exit 4); other errors pass through. */
export function diskError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new LimitError('EQUOTA', `no space left for ${path}`, {
      hint: 'free some space, then run the same command to resume',
      cause: err,
    });
  }
  return err;
}
