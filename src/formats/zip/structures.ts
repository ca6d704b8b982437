/**
 * Byte layouts of the zip records mailferry writes and reads (PKWARE APPNOTE 6.3):
 * local header, central directory header, zip64 extra field, end records. Pure functions,
 * no I/O, so the writer, the reader and the tests share one definition.
 */

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_END = 0x06054b50;
export const SIG_ZIP64_END = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;

export const METHOD_STORE = 0;
export const METHOD_DEFLATE = 8;
export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_UTF8 = 0x0800;

export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const END_SIZE = 22;
export const ZIP64_END_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;
/** Offset of the CRC field in a local header; CRC and both sizes follow, 12 bytes in all. */
export const LOCAL_CRC_OFFSET = 14;

export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;
const EXTRA_ZIP64 = 0x0001;
const EXTRA_TIMESTAMP = 0x5455;
const VERSION_MADE_BY = (3 << 8) | 45; // Unix, APPNOTE 4.5
const UNIX_FILE_0644 = (0o100644 << 16) >>> 0;

/** What the writer knows about one entry once its data is written. */
export interface EntryRecord {
  name: string;
  /** Offset of the local header. */
  offset: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  mtime: Date;
}

function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeBigUInt64LE(BigInt(value), at);
}

/** DOS date and time are local time, 2-second steps, 1980..2107. */
export function toDosDateTime(d: Date): { date: number; time: number } {
  const year = d.getFullYear();
  if (Number.isNaN(year) || year < 1980) return { date: (1 << 5) | 1, time: 0 };
  if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  const date = ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
  return { date, time };
}

export function fromDosDateTime(date: number, time: number): Date {
  return new Date(
    (date >> 9) + 1980,
    ((date >> 5) & 0xf) - 1,
    date & 0x1f,
    time >> 11,
    (time >> 5) & 0x3f,
    (time & 0x1f) * 2,
  );
}

/** Extended timestamp extra field: exact UTC mtime, which unzip and 7-Zip prefer to DOS time. */
function timestampExtra(mtime: Date): Buffer {
  const secs = Math.floor(mtime.getTime() / 1000);
  if (!Number.isFinite(secs) || secs < -0x80000000 || secs > 0x7fffffff) return Buffer.alloc(0);
  const buf = Buffer.alloc(9);
  buf.writeUInt16LE(EXTRA_TIMESTAMP, 0);
  buf.writeUInt16LE(5, 2);
  buf.writeUInt8(1, 4); // mtime present
  buf.writeInt32LE(secs, 5);
  return buf;
}

/**
 * Local header with CRC and sizes as given (zeros as placeholders, patched later with
 * patchLocalSizes). Sizes must fit 32 bits: mailferry never writes a 4 GiB message.
 */
export function encodeLocalHeader(e: Omit<EntryRecord, 'offset'>): Buffer {
  const name = Buffer.from(e.name, 'utf8');
  const extra = timestampExtra(e.mtime);
  const buf = Buffer.alloc(LOCAL_HEADER_SIZE + name.length + extra.length);
  const { date, time } = toDosDateTime(e.mtime);
  buf.writeUInt32LE(SIG_LOCAL, 0);
  buf.writeUInt16LE(20, 4);
  buf.writeUInt16LE(FLAG_UTF8, 6);
  buf.writeUInt16LE(e.method, 8);
  buf.writeUInt16LE(time, 10);
  buf.writeUInt16LE(date, 12);
  buf.writeUInt32LE(e.crc >>> 0, 14);
  buf.writeUInt32LE(e.compressedSize, 18);
  buf.writeUInt32LE(e.size, 22);
  buf.writeUInt16LE(name.length, 26);
  buf.writeUInt16LE(extra.length, 28);
  name.copy(buf, LOCAL_HEADER_SIZE);
  extra.copy(buf, LOCAL_HEADER_SIZE + name.length);
  return buf;
}

/** The 12 bytes to write at offset + LOCAL_CRC_OFFSET once the data is known. */
export function patchLocalSizes(crc: number, compressedSize: number, size: number): Buffer {
  const buf = Buffer.alloc(12);
  buf.writeUInt32LE(crc >>> 0, 0);
  buf.writeUInt32LE(compressedSize, 4);
  buf.writeUInt32LE(size, 8);
  return buf;
}

/** Central directory header; zip64 extra for whatever overflows 32 bits (or everything, if forced). */
export function encodeCentralHeader(e: EntryRecord, forceZip64 = false): Buffer {
  const name = Buffer.from(e.name, 'utf8');
  const big = (n: number) => forceZip64 || n >= U32_MAX;
  const z64: number[] = [];
  if (e.size >= U32_MAX) z64.push(e.size);
  if (e.compressedSize >= U32_MAX) z64.push(e.compressedSize);
  if (big(e.offset)) z64.push(e.offset);
  const zipExtra = Buffer.alloc(z64.length ? 4 + 8 * z64.length : 0);
  if (z64.length) {
    zipExtra.writeUInt16LE(EXTRA_ZIP64, 0);
    zipExtra.writeUInt16LE(8 * z64.length, 2);
    for (const [i, v] of z64.entries()) writeU64(zipExtra, v, 4 + 8 * i);
  }
  // The central copy of the timestamp field carries only its flags and mtime.
  const extra = Buffer.concat([zipExtra, timestampExtra(e.mtime)]);
  const buf = Buffer.alloc(CENTRAL_HEADER_SIZE + name.length + extra.length);
  const { date, time } = toDosDateTime(e.mtime);
  buf.writeUInt32LE(SIG_CENTRAL, 0);
  buf.writeUInt16LE(VERSION_MADE_BY, 4);
  buf.writeUInt16LE(z64.length ? 45 : 20, 6);
  buf.writeUInt16LE(FLAG_UTF8, 8);
  buf.writeUInt16LE(e.method, 10);
  buf.writeUInt16LE(time, 12);
  buf.writeUInt16LE(date, 14);
  buf.writeUInt32LE(e.crc >>> 0, 16);
  buf.writeUInt32LE(Math.min(e.compressedSize, U32_MAX), 20);
  buf.writeUInt32LE(Math.min(e.size, U32_MAX), 24);
  buf.writeUInt16LE(name.length, 28);
  buf.writeUInt16LE(extra.length, 30);
  buf.writeUInt32LE(UNIX_FILE_0644, 38);
  buf.writeUInt32LE(big(e.offset) ? U32_MAX : e.offset, 42);
  name.copy(buf, CENTRAL_HEADER_SIZE);
  extra.copy(buf, CENTRAL_HEADER_SIZE + name.length);
  return buf;
}

export interface EndInfo {
  entries: number;
  cdOffset: number;
  cdSize: number;
}

/** Zip64 end record and locator when anything overflows (or forced), then the classic end record. */
export function encodeEnd(end: EndInfo, forceZip64 = false): Buffer {
  const zip64 = forceZip64 || end.entries >= U16_MAX || end.cdOffset >= U32_MAX || end.cdSize >= U32_MAX;
  const parts: Buffer[] = [];
  if (zip64) {
    const rec = Buffer.alloc(ZIP64_END_SIZE);
    rec.writeUInt32LE(SIG_ZIP64_END, 0);
    writeU64(rec, ZIP64_END_SIZE - 12, 4);
    rec.writeUInt16LE(VERSION_MADE_BY, 12);
    rec.writeUInt16LE(45, 14);
    writeU64(rec, end.entries, 24);
    writeU64(rec, end.entries, 32);
    writeU64(rec, end.cdSize, 40);
    writeU64(rec, end.cdOffset, 48);
    const loc = Buffer.alloc(ZIP64_LOCATOR_SIZE);
    loc.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
    writeU64(loc, end.cdOffset + end.cdSize, 8);
    loc.writeUInt32LE(1, 16);
    parts.push(rec, loc);
  }
  const eocd = Buffer.alloc(END_SIZE);
  eocd.writeUInt32LE(SIG_END, 0);
  const count = zip64 ? U16_MAX : end.entries;
  eocd.writeUInt16LE(count, 8);
  eocd.writeUInt16LE(count, 10);
  eocd.writeUInt32LE(zip64 ? U32_MAX : end.cdSize, 12);
  eocd.writeUInt32LE(zip64 ? U32_MAX : end.cdOffset, 16);
  parts.push(eocd);
  return Buffer.concat(parts);
}
