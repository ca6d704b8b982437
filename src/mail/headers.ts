import { Readable } from 'node:stream';
import { normalizeMessageId } from './message-id.js';

/**
 * The few header fields mailferry reads (Message-ID, Date, Received), taken from a header
 * block the same way on every side, so a message has one identity wherever it is read.
 */

/** The bytes before the first empty line. */
export function headerBlock(bytes: Buffer): Buffer {
  const crlf = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  return ends.length ? bytes.subarray(0, Math.min(...ends)) : bytes;
}

/** Whether the header section has ended within these bytes (a message may also start with it). */
function headerEnded(bytes: Buffer): boolean {
  return (
    bytes.indexOf('\n\r\n') >= 0 ||
    bytes.indexOf('\n\n') >= 0 ||
    /^\r?\n/.test(bytes.toString('latin1', 0, 2))
  );
}

/**
 * Reads a stream until its header section has ended (or `limit` bytes came) and hands back the
 * bytes read with a stream that still yields every byte: the same one with the bytes put back
 * (unshift), or, when the whole message was read already, a new one over those bytes.
 */
export async function peekHeader(
  stream: Readable,
  limit = 64 * 1024,
): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const read = stream.read() as Buffer | string | null;
    if (read === null) {
      if (stream.readableEnded) break;
      if (stream.destroyed) throw stream.errored ?? prematureClose();
      await moreOrEnd(stream);
      continue;
    }
    const chunk = typeof read === 'string' ? Buffer.from(read) : read;
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit || headerEnded(chunks.length === 1 ? chunk : Buffer.concat(chunks))) break;
  }
  const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (stream.readableEnded) return { head, stream: Readable.from([head], { objectMode: false }) };
  if (head.length) stream.unshift(head);
  return { head, stream };
}

/**
 * Waits for data, the end or an error. 'readable' alone is not enough: a stream whose last
 * chunk was read already ends with only 'end', and a header block that never ends (no empty
 * line, a real mailbox holds such messages) then waited forever.
 */
function moreOrEnd(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      stream.off('readable', onData).off('end', onData).off('close', onClose).off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => done();
    const onClose = () => done(stream.readableEnded ? undefined : (stream.errored ?? prematureClose()));
    stream.on('readable', onData).on('end', onData).on('close', onClose).on('error', done);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('the message stream closed before its end'), {
    code: 'ERR_STREAM_PREMATURE_CLOSE',
  });
}

/** Unfolded fields in order; names lower-cased. Latin-1 keeps 8-bit bytes one char each. */
export function headerFields(bytes: Buffer): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const line of headerBlock(bytes).toString('latin1').split(/\r?\n/)) {
    const last = out[out.length - 1];
    if (/^[ \t]/.test(line) && last) {
      last.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return out;
}

export function headerValue(bytes: Buffer, name: string): string | undefined {
  return headerFields(bytes).find((h) => h.name === name)?.value;
}

export function messageIdOf(bytes: Buffer | undefined): string | undefined {
  return bytes?.length ? normalizeMessageId(headerValue(bytes, 'message-id')) : undefined;
}

/** RFC 5322 dates, tolerating comments such as "(CEST)"; undefined when unreadable. */
export function parseDate(text: string): Date | undefined {
  const clean = text
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!clean) return undefined;
  const ms = Date.parse(clean);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
