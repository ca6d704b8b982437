import { Transform, type TransformCallback } from 'node:stream';

const HOLD = 2;

/**
 * POP3 cannot carry a message whose last line has no line end: the server adds CRLF before the
 * closing dot. A server with exact LIST sizes (Dovecot, as RFC 1939 asks) counts the message
 * without that CRLF, so a body of exactly LIST + 2 bytes ending in CRLF carries the server's CRLF,
 * and dropping it restores the stored bytes. A server that reports inexact sizes could in
 * principle hit the same count by chance; we accept that risk for byte-exact copies from Dovecot.
 */
export class AddedCrlfTrimmer extends Transform {
  private held = Buffer.alloc(0);
  private total = 0;

  constructor(private readonly listSize: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.total += chunk.length;
    // Hold back the last two bytes: only the end of the stream tells whether they stay.
    const all = chunk.length >= HOLD ? chunk : Buffer.concat([this.held, chunk]);
    if (all === chunk && this.held.length) this.push(this.held);
    if (all.length > HOLD) this.push(all.subarray(0, all.length - HOLD));
    this.held = Buffer.from(all.subarray(Math.max(0, all.length - HOLD)));
    done();
  }

  override _flush(done: TransformCallback): void {
    const addedByServer = this.total === this.listSize + 2 && this.held.toString('latin1') === '\r\n';
    if (!addedByServer && this.held.length) this.push(this.held);
    done();
  }
}
