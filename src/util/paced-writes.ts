import type { Writable } from 'node:stream';

const SLICE = 256 * 1024;

type WriteCallback = (err?: Error | null) => void;

/**
 * Node encrypts a whole write() to a TLS socket at once, so a 50 MB APPEND literal that
 * imapflow hands over in one write holds a second, encrypted copy of the message until the
 * peer has read it (measured: +50 MB at write()). This wrapper feeds a large chunk to the
 * socket 256 KiB at a time, each slice after the previous one was handed to the kernel,
 * keeping later writes in order behind it. Small writes on an idle socket pass straight through.
 */
export function paceLargeWrites(socket: Writable): void {
  const write = socket.write.bind(socket) as (chunk: Buffer, cb?: WriteCallback) => boolean;
  const queue: Array<{ slice: Buffer; done?: WriteCallback }> = [];
  let busy = false;
  const pump = (): void => {
    const next = queue.shift();
    if (!next) {
      busy = false;
      return;
    }
    busy = true;
    write(next.slice, (err) => {
      next.done?.(err);
      if (err) {
        queue.length = 0;
        busy = false;
        return;
      }
      pump();
    });
  };
  socket.write = ((chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const done = (typeof encoding === 'function' ? encoding : cb) as WriteCallback | undefined;
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    if (!busy && buf.length <= SLICE) return write(buf, done);
    for (let i = 0; i < buf.length; i += SLICE) {
      const last = i + SLICE >= buf.length;
      queue.push(
        last ? { slice: buf.subarray(i), ...(done ? { done } : {}) } : { slice: buf.subarray(i, i + SLICE) },
      );
    }
    if (!busy) pump();
    return true;
  }) as Writable['write'];
}
