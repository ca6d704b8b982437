import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const CR = 0x0d;
const LF = 0x0a;

/**
 * Rewrites bare LF as CRLF, at any chunk boundary. This is the only change mailferry
 * allows between source and sink bytes, so hashes are taken after it.
 */
export class CrlfNormalizer extends Transform {
  private lastWasCR = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.push(normalizeChunk(chunk, this.lastWasCR));
    if (chunk.length) this.lastWasCR = chunk[chunk.length - 1] === CR;
    done();
  }
}

/**
 * Normalise one chunk; `prevCR` says whether the previous chunk ended with CR. It jumps from LF
 * to LF with indexOf (native memchr) instead of looking at every byte: mail lines average well
 * over 50 bytes, and CRLF mail, the usual case, is handed back as it is, without a copy.
 */
export function normalizeChunk(chunk: Buffer, prevCR: boolean): Buffer {
  let extra = 0;
  for (let nl = chunk.indexOf(LF); nl >= 0; nl = chunk.indexOf(LF, nl + 1)) {
    if (!(nl === 0 ? prevCR : chunk[nl - 1] === CR)) extra++;
  }
  if (extra === 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length + extra);
  let o = 0;
  let from = 0;
  for (let nl = chunk.indexOf(LF); nl >= 0; nl = chunk.indexOf(LF, nl + 1)) {
    if (nl === 0 ? prevCR : chunk[nl - 1] === CR) continue;
    o += chunk.copy(out, o, from, nl);
    out[o++] = CR;
    from = nl;
  }
  chunk.copy(out, o, from);
  return out;
}

/** Incremental SHA-256 over CRLF-normalised bytes. */
export class CrlfHasher {
  private readonly hash = createHash('sha256');
  private prevCR = false;
  bytes = 0;

  update(chunk: Buffer): void {
    const norm = normalizeChunk(chunk, this.prevCR);
    if (chunk.length) this.prevCR = chunk[chunk.length - 1] === CR;
    this.bytes += norm.length;
    this.hash.update(norm);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export function crlfSha256(data: Buffer): string {
  const h = new CrlfHasher();
  h.update(data);
  return h.digest();
}

export async function crlfSha256Stream(
  stream: AsyncIterable<Buffer>,
): Promise<{ sha256: string; bytes: number }> {
  const h = new CrlfHasher();
  for await (const chunk of stream) h.update(chunk);
  return { sha256: h.digest(), bytes: h.bytes };
}
