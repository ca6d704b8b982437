import type { Readable } from 'node:stream';
import { CrlfHasher, normalizeChunk } from '../mail/hash.js';

/**
 * Collect a message into one Buffer, as imapflow's append() takes no stream. Sinks run
 * appends one at a time, so this bounds memory to one message per connection. Bare LF
 * becomes CRLF (IMAP requires it; it is the one change mailferry allows), and the SHA-256
 * is taken over exactly the bytes sent.
 */
export async function collectBody(body: Readable, sizeHint = 0): Promise<{ data: Buffer; sha256: string }> {
  const hasher = new CrlfHasher();
  // One buffer of the announced size, filled in place: a list of chunks joined at the end
  // would hold the message twice (imapflow copies it once more when it builds the command).
  let data = Buffer.allocUnsafe(Math.max(sizeHint + 256, 1024));
  let used = 0;
  let prevCR = false;
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hasher.update(buf);
    const norm = normalizeChunk(buf, prevCR);
    if (buf.length) prevCR = buf[buf.length - 1] === 0x0d;
    if (used + norm.length > data.length) {
      const grown = Buffer.allocUnsafe(Math.max(data.length * 2, used + norm.length));
      data.copy(grown, 0, 0, used);
      data = grown;
    }
    norm.copy(data, used);
    used += norm.length;
  }
  return { data: data.subarray(0, used), sha256: hasher.digest() };
}
