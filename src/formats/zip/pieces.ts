import { promisify } from 'node:util';
import { constants, deflateRaw } from 'node:zlib';

/**
 * Deflate in independent pieces of up to PIECE bytes, on zlib's thread pool, as pigz does: every
 * piece but the last ends with a sync flush (byte-aligned, no final bit), the last with a final
 * block, so the pieces laid end to end are one valid deflate stream. That buys two things:
 * - pieces of base64 (attachments: random-looking text that LZ77 barely shrinks) are coded with
 *   Huffman only, about 3x as fast as level 3 for 1-2 points of ratio on those bytes;
 * - compression runs beside the main thread (and, for a big entry, two pieces at once).
 * A piece starts with an empty window, which costs a few bytes per 256 KiB.
 */

const PIECE = 256 * 1024;
/** Pieces being compressed at once for one streamed entry: bounds its memory. */
const AHEAD = 2;

const deflate = promisify(deflateRaw);

/** Bytes a base64 body line is made of. */
const B64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n')
  B64[c.charCodeAt(0)] = 1;
const PROBES = 4;
const PROBE_BYTES = 128;

/**
 * True when four windows spread over `data` hold nothing but base64 and line ends. Only the
 * choice of strategy depends on it, never the bytes: a wrong guess costs ratio or speed.
 */
export function looksBase64(data: Uint8Array): boolean {
  if (data.length < PROBES * PROBE_BYTES * 4) return false;
  for (let p = 0; p < PROBES; p++) {
    const start = Math.floor(((2 * p + 1) * data.length) / (2 * PROBES));
    for (let i = start; i < start + PROBE_BYTES; i++) if (!B64[data[i]!]) return false;
  }
  return true;
}

/**
 * Compressions at once, process-wide. Each holds a deflate state of about 300 KB from the moment
 * it is created, so hundreds of queued messages must not each start one: they wait here.
 */
const SLOTS = 3;
let busy = 0;
const queued: Array<() => void> = [];

async function compress(piece: Buffer, level: number, last: boolean): Promise<Buffer> {
  if (busy >= SLOTS) await new Promise<void>((resolve) => queued.push(resolve));
  busy++;
  try {
    return await deflate(piece, {
      level,
      strategy: looksBase64(piece) ? constants.Z_HUFFMAN_ONLY : constants.Z_DEFAULT_STRATEGY,
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      // One output buffer that fits the worst case: no 16 KiB slices to gather and concatenate.
      chunkSize: Math.max(1024, piece.length + (piece.length >>> 8) + 1024),
    });
  } finally {
    busy--;
    queued.shift()?.();
  }
}

/** Deflate a whole buffer; the pieces are compressed side by side. */
export async function deflatePieces(data: Buffer, level: number): Promise<Buffer[]> {
  const jobs: Array<Promise<Buffer>> = [];
  for (let at = 0; at === 0 || at < data.length; at += PIECE) {
    const end = Math.min(data.length, at + PIECE);
    jobs.push(compress(data.subarray(at, end), level, end === data.length));
  }
  return Promise.all(jobs);
}

/**
 * Streamed deflate: write() chunks, end() once; compressed pieces go to `emit` in order. A full
 * piece is cut only once more bytes follow it, so the last piece is known when it is compressed.
 */
export class PieceDeflater {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private readonly running: Array<Promise<Buffer>> = [];

  constructor(
    private readonly level: number,
    private readonly emit: (compressed: Buffer) => Promise<void>,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    while (this.heldBytes > PIECE) {
      // One big chunk (a whole message from IMAP) is cut up in place, not copied per piece.
      const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
      this.held = [all.subarray(PIECE)];
      this.heldBytes -= PIECE;
      const job = compress(all.subarray(0, PIECE), this.level, false);
      job.catch(() => {}); // awaited in turn; not unhandled while an earlier piece is awaited
      this.running.push(job);
      if (this.running.length >= AHEAD) await this.emit(await this.running.shift()!);
    }
  }

  async end(): Promise<void> {
    const rest = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.running.push(compress(rest, this.level, true));
    this.held = [];
    for (let next = this.running.shift(); next; next = this.running.shift()) await this.emit(await next);
  }
}
