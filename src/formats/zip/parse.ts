import {
  CENTRAL_HEADER_SIZE,
  END_SIZE,
  type EndInfo,
  FLAG_UTF8,
  fromDosDateTime,
  SIG_CENTRAL,
  SIG_END,
  SIG_ZIP64_END,
  SIG_ZIP64_LOCATOR,
  U32_MAX,
  ZIP64_END_SIZE,
  ZIP64_LOCATOR_SIZE,
} from './structures.js';

/** One central directory record, as read from an archive anyone may have made. */
export interface CentralEntry {
  name: string;
  /** The name's bytes, compared with the local header before any data is read. */
  rawName: Buffer;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
  mtime: Date;
}

export class ZipFormatError extends Error {}

// Code page 437, bytes 0x80..0xFF: what a name without the UTF-8 flag means.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export function decodeName(raw: Buffer, flags: number): string {
  if (flags & FLAG_UTF8) return raw.toString('utf8');
  let out = '';
  for (const b of raw) out += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return out;
}

export interface EndLocation {
  end: EndInfo;
  /** Absolute offset of the zip64 end record, when the locator points to one. */
  zip64EndAt?: number;
}

/** Find the end record in the archive's last bytes (an archive comment may follow it). */
export function parseEnd(tail: Buffer): EndLocation {
  for (let i = tail.length - END_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== SIG_END) continue;
    const commentLen = tail.readUInt16LE(i + 20);
    if (i + END_SIZE + commentLen > tail.length) continue;
    const end: EndInfo = {
      entries: tail.readUInt16LE(i + 10),
      cdSize: tail.readUInt32LE(i + 12),
      cdOffset: tail.readUInt32LE(i + 16),
    };
    const loc = i - ZIP64_LOCATOR_SIZE;
    if (loc >= 0 && tail.readUInt32LE(loc) === SIG_ZIP64_LOCATOR) {
      return { end, zip64EndAt: readU64(tail, loc + 8) };
    }
    return { end };
  }
  throw new ZipFormatError('no end of central directory record (not a zip archive, or an unfinished one)');
}

export function parseZip64End(buf: Buffer): EndInfo {
  if (buf.length < ZIP64_END_SIZE || buf.readUInt32LE(0) !== SIG_ZIP64_END) {
    throw new ZipFormatError('bad zip64 end of central directory record');
  }
  return { entries: readU64(buf, 32), cdSize: readU64(buf, 40), cdOffset: readU64(buf, 48) };
}

function readU64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('64-bit value out of range');
  return Number(v);
}

/** Parse `count` central directory records from `buf`. */
export function parseCentralDirectory(buf: Buffer, count: number): CentralEntry[] {
  const entries: CentralEntry[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + CENTRAL_HEADER_SIZE > buf.length || buf.readUInt32LE(p) !== SIG_CENTRAL) {
      throw new ZipFormatError(`bad central directory record ${n + 1}`);
    }
    const flags = buf.readUInt16LE(p + 8);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const next = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
    if (next > buf.length) throw new ZipFormatError(`central directory record ${n + 1} runs past its end`);
    const rawName = Buffer.from(buf.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen));
    const extra = buf.subarray(
      p + CENTRAL_HEADER_SIZE + nameLen,
      p + CENTRAL_HEADER_SIZE + nameLen + extraLen,
    );
    const entry: CentralEntry = {
      name: decodeName(rawName, flags),
      rawName,
      flags,
      method: buf.readUInt16LE(p + 10),
      crc: buf.readUInt32LE(p + 16),
      compressedSize: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      offset: buf.readUInt32LE(p + 42),
      mtime: fromDosDateTime(buf.readUInt16LE(p + 14), buf.readUInt16LE(p + 12)),
    };
    applyExtra(entry, extra);
    entries.push(entry);
    p = next;
  }
  return entries;
}

/** Zip64 sizes/offset (only the fields saturated at 0xFFFFFFFF, in order) and the exact UTC mtime. */
function applyExtra(e: CentralEntry, extra: Buffer): void {
  let p = 0;
  while (p + 4 <= extra.length) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    const data = extra.subarray(p + 4, p + 4 + len);
    if (id === 0x0001) {
      let q = 0;
      const take = () => {
        if (q + 8 > data.length) throw new ZipFormatError(`${e.name}: short zip64 extra field`);
        const v = readU64(data, q);
        q += 8;
        return v;
      };
      if (e.size === U32_MAX) e.size = take();
      if (e.compressedSize === U32_MAX) e.compressedSize = take();
      if (e.offset === U32_MAX) e.offset = take();
    } else if (id === 0x5455 && data.length >= 5 && data[0]! & 1) {
      e.mtime = new Date(data.readInt32LE(1) * 1000);
    }
    p += 4 + len;
  }
}
