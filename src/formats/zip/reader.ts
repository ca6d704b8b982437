import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { MessageError, UsageError } from '../../errors.js';
import { bombReason } from '../../mail/limits.js';
import { crc32 } from './crc.js';
import {
  type CentralEntry,
  parseCentralDirectory,
  parseEnd,
  parseZip64End,
  ZipFormatError,
} from './parse.js';
import {
  CENTRAL_HEADER_SIZE,
  END_SIZE,
  FLAG_ENCRYPTED,
  LOCAL_HEADER_SIZE,
  METHOD_DEFLATE,
  METHOD_STORE,
  SIG_LOCAL,
  ZIP64_END_SIZE,
  ZIP64_LOCATOR_SIZE,
} from './structures.js';

export type { CentralEntry } from './parse.js';

const SMALL_ENTRY = 256 << 10;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * Check that a local header with this name starts at `offset`; returns where its data begins.
 * Throws UsageError: a mismatch means the file is not what its directory or journal says.
 */
export async function verifyLocalHeader(
  fh: FileHandle,
  offset: number,
  name: string | Buffer,
  path: string,
): Promise<number> {
  const raw = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  const head = await readAt(fh, offset, LOCAL_HEADER_SIZE + raw.length);
  const ok =
    head.length === LOCAL_HEADER_SIZE + raw.length &&
    head.readUInt32LE(0) === SIG_LOCAL &&
    head.readUInt16LE(26) === raw.length &&
    head.subarray(LOCAL_HEADER_SIZE).equals(raw);
  if (!ok) {
    throw new UsageError(`${path}: no local header for '${raw.toString('utf8')}' at offset ${offset}`, {
      hint: 'the archive does not match its directory or journal; restore it or start a new one',
    });
  }
  return offset + LOCAL_HEADER_SIZE + raw.length + head.readUInt16LE(28);
}

/** Reads an archive's central directory and streams entries, checking CRC and size. */
export class ZipReader {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly entries: CentralEntry[],
    /** Where the central directory starts: entry data must end before it. */
    private readonly cdOffset: number,
  ) {}

  static async open(path: string): Promise<ZipReader> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new UsageError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const { entries, cdOffset } = await readDirectory(fh);
      return new ZipReader(fh, path, entries, cdOffset);
    } catch (err) {
      await fh.close();
      if (err instanceof ZipFormatError) {
        throw new UsageError(`${path} is not a readable zip archive: ${err.message}`, {
          hint: 'an interrupted backup is finished by running the same copy command again',
        });
      }
      throw err;
    }
  }

  /** The entry's uncompressed bytes; the stream errors if CRC or size do not match. */
  async openEntry(e: CentralEntry): Promise<Readable> {
    if (e.flags & FLAG_ENCRYPTED)
      throw new MessageError('EREJECTED', `${e.name}: encrypted entries are not supported`);
    if (e.method !== METHOD_STORE && e.method !== METHOD_DEFLATE) {
      throw new MessageError('EREJECTED', `${e.name}: compression method ${e.method} is not supported`);
    }
    const bomb = bombReason(e.size, e.compressedSize);
    if (bomb) throw new MessageError('EUNSAFE', `${e.name}: ${bomb}`);
    const start = await verifyLocalHeader(this.fh, e.offset, e.rawName, this.path).catch((err: Error) => {
      throw new MessageError('EMISMATCH', err.message, { cause: err });
    });
    if (start + e.compressedSize > this.cdOffset) {
      throw new MessageError('EMISMATCH', `${e.name}: entry data runs into the central directory`);
    }
    const check = new EntryCheck(e);
    // Most mail is small: one positional read beats opening a read stream per entry.
    const raw =
      e.compressedSize <= SMALL_ENTRY
        ? Readable.from([await readAt(this.fh, start, e.compressedSize)], { objectMode: false })
        : createReadStream(this.path, { start, end: start + e.compressedSize - 1 });
    const inflated = e.method === METHOD_DEFLATE ? raw.pipe(createInflateRaw()) : raw;
    // pipe() does not forward errors: hand every stage's error to the stream the caller holds.
    for (const s of new Set<Readable>([raw, inflated])) s.on('error', (err) => check.destroy(err));
    return inflated.pipe(check);
  }

  /** Whole entry in memory; for small trailers such as a manifest. */
  async readEntry(e: CentralEntry, maxBytes: number): Promise<Buffer> {
    if (e.size > maxBytes) throw new MessageError('ETOOBIG', `${e.name}: ${e.size} bytes, limit ${maxBytes}`);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.openEntry(e)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

async function readDirectory(fh: FileHandle): Promise<{ entries: CentralEntry[]; cdOffset: number }> {
  const size = (await fh.stat()).size;
  const tailLen = Math.min(size, END_SIZE + 0xffff + ZIP64_LOCATOR_SIZE);
  const { end: classic, zip64EndAt } = parseEnd(await readAt(fh, size - tailLen, tailLen));
  const end =
    zip64EndAt === undefined ? classic : parseZip64End(await readAt(fh, zip64EndAt, ZIP64_END_SIZE));
  if (end.cdOffset + end.cdSize > size || end.entries * CENTRAL_HEADER_SIZE > end.cdSize) {
    throw new ZipFormatError('central directory size or offset out of range');
  }
  const cd = await readAt(fh, end.cdOffset, end.cdSize);
  return { entries: parseCentralDirectory(cd, end.entries), cdOffset: end.cdOffset };
}

/** Counts and CRCs the inflated bytes; stops early on a bomb that inflates past its declared size. */
class EntryCheck extends Transform {
  private crc = 0;
  private size = 0;

  constructor(private readonly entry: CentralEntry) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.entry.size) {
      done(
        new MessageError(
          'EMISMATCH',
          `${this.entry.name}: more data than the ${this.entry.size} bytes declared`,
        ),
      );
      return;
    }
    this.crc = crc32(chunk, this.crc);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.size !== this.entry.size || this.crc >>> 0 !== this.entry.crc >>> 0) {
      done(
        new MessageError('EMISMATCH', `${this.entry.name}: CRC or size does not match the archive directory`),
      );
      return;
    }
    done();
  }
}
