import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { peekHeader } from '../../src/mail/headers.js';

async function all(s: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

function chunked(bytes: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

const message = Buffer.from(
  `Received: from a by b; Tue, 1 Oct 2002 10:00:00 +0000\r\nMessage-ID: <x@y>\r\n\r\n${'body line\r\n'.repeat(5000)}`,
);

describe('peekHeader', () => {
  it.each([1, 7, 64, 4096, 1 << 20])(
    'reads the header in %i-byte chunks and gives every byte back',
    async (n) => {
      const { head, stream } = await peekHeader(chunked(message, n));
      expect(head.toString('latin1')).toContain('Message-ID: <x@y>\r\n\r\n');
      expect((await all(stream)).equals(message)).toBe(true);
    },
  );

  it('stops at the limit when no empty line comes, and at the end of a short message', async () => {
    const noBreak = Buffer.from(`Subject: ${'x'.repeat(200_000)}`);
    const long = await peekHeader(chunked(noBreak, 16_384), 32_768);
    expect(long.head.length).toBeGreaterThanOrEqual(32_768);
    expect(long.head.length).toBeLessThan(noBreak.length);
    expect((await all(long.stream)).equals(noBreak)).toBe(true);
    const tiny = await peekHeader(chunked(Buffer.from('Subject: hi'), 4));
    expect(tiny.head.toString()).toBe('Subject: hi');
    expect((await all(tiny.stream)).toString()).toBe('Subject: hi');
  });

  it.each([
    ['no empty line, final CRLF', 'Subject: a\r\nFrom: b\r\n'],
    ['no empty line, no final newline', 'Subject: a\r\nFrom: b'],
    ['empty', ''],
  ])('ends at end-of-stream when the header never ends (%s), from a PassThrough', async (_, text) => {
    // A PassThrough ended with its last chunk already buffered emits only 'end' after the read.
    const p = new PassThrough();
    p.end(Buffer.from(text));
    const { head, stream } = await peekHeader(p);
    expect(head.toString()).toBe(text);
    expect((await all(stream)).toString()).toBe(text);
  });

  it('ends at end-of-stream when the last chunk comes late', async () => {
    const p = new PassThrough();
    p.write('Subject: a\r\n');
    setImmediate(() => p.end('X-B: c\r\n'));
    const { head, stream } = await peekHeader(p);
    expect((await all(stream)).toString()).toBe('Subject: a\r\nX-B: c\r\n');
    expect(head.length).toBeGreaterThan(0);
  });

  it('rejects when the stream is destroyed without an end', async () => {
    const s = new Readable({ read() {} });
    s.push(Buffer.from('Subject: a\r\n'));
    setImmediate(() => s.destroy());
    await expect(peekHeader(s)).rejects.toThrow('closed before its end');
  });

  it('passes on a stream error', async () => {
    const s = new Readable({ read() {} });
    s.push(Buffer.from('Subject: a\r\n'));
    setImmediate(() => s.destroy(new Error('connection reset')));
    await expect(peekHeader(s)).rejects.toThrow('connection reset');
  });
});
