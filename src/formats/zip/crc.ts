import * as zlib from 'node:zlib';

// zlib.crc32 arrived in Node 20.15; older 20.x lines fall back to a table.
const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 (zip/gzip polynomial) of `data`, continuing from `previous`. */
export function crc32(data: Uint8Array, previous = 0): number {
  return native ? native(data, previous) : crc32Portable(data, previous);
}

/** The table version; exported so tests can check both paths agree. */
export function crc32Portable(data: Uint8Array, previous = 0): number {
  const t = crcTable();
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
