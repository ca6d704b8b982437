import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MboxrdCodec } from '../../src/formats/mbox/mboxrd.js';
import { CrlfHasher, crlfSha256, normalizeChunk } from '../../src/mail/hash.js';
import { DotDecoder } from '../../src/pop3/dot.js';
import { DotDecoderPerLine, MboxrdPerLine, normalizeChunkPerByte } from './reference-scanners.js';

/**
 * The scanners on the message path jump with indexOf instead of looking at every byte. For
 * random mail-like input cut at random points they must give exactly what the byte-at-a-time
 * versions (reference-scanners.ts) gave.
 */

const TOKENS = [
  'From ',
  '>From ',
  '>>From ',
  'From',
  'Fro',
  '>',
  '>>',
  '.',
  '\r',
  '\n',
  '\r\n',
  'x',
  'ab ',
  ' ',
];
const token = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKENS).map((t) => Buffer.from(t, 'latin1')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
  // Long lines, as base64 attachments have.
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 300 }).map((n) => Buffer.alloc(n, 'QUJD')) },
);
const message = fc.array(token, { maxLength: 80 }).map((parts) => Buffer.concat(parts));
const cuts = fc.array(fc.nat({ max: 2000 }), { maxLength: 10 });

function split(buf: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((n) => n % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

function codecRun(codec: { update(b: Buffer): Buffer; end(): Buffer }, chunks: Buffer[]): Buffer {
  return Buffer.concat([...chunks.map((c) => Buffer.from(codec.update(c))), codec.end()]);
}

describe('mboxrd codec with indexOf jumps', () => {
  for (const mode of ['quote', 'unquote'] as const) {
    it(`${mode}: equals the per-line codec at any chunk split`, () => {
      fc.assert(
        fc.property(message, cuts, (m, at) => {
          const want = codecRun(new MboxrdPerLine(mode), [m]);
          const got = codecRun(new MboxrdCodec(mode), split(m, at));
          expect(got.toString('latin1')).toBe(want.toString('latin1'));
        }),
        { numRuns: 500 },
      );
    });
  }

  it('hands a chunk that needs no quoting back without a copy', () => {
    const chunk = Buffer.from(`${'QUJD'.repeat(19)}\r\n`.repeat(100));
    const codec = new MboxrdCodec('quote');
    codec.update(Buffer.from('x'));
    expect(codec.update(chunk)).toBe(chunk);
  });

  it('quotes a From line that follows a long line of its chunk', () => {
    const data = Buffer.from(`${'a'.repeat(500)}\nFrom x\n>From y\nnot From z\n`);
    expect(codecRun(new MboxrdCodec('quote'), [data]).toString()).toBe(
      `${'a'.repeat(500)}\n>From x\n>>From y\nnot From z\n`,
    );
  });
});

describe('CRLF normalisation with indexOf jumps', () => {
  it('equals the per-byte version for any chunk and previous CR', () => {
    fc.assert(
      fc.property(message, fc.boolean(), (m, prevCR) => {
        expect(normalizeChunk(m, prevCR).equals(normalizeChunkPerByte(m, prevCR))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('hashes the same at any chunk split', () => {
    fc.assert(
      fc.property(message, cuts, (m, at) => {
        const h = new CrlfHasher();
        for (const c of split(m, at)) h.update(c);
        const norm = normalizeChunkPerByte(m, false);
        expect(h.digest()).toBe(createHash('sha256').update(norm).digest('hex'));
        expect(h.bytes).toBe(norm.length);
        expect(crlfSha256(m)).toBe(createHash('sha256').update(norm).digest('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('returns CRLF input itself, and rewrites bare LF', () => {
    const crlf = Buffer.from('a\r\nb\r\n');
    expect(normalizeChunk(crlf, false)).toBe(crlf);
    expect(normalizeChunk(Buffer.from('\na\nb\r\n\n'), true).toString()).toBe('\na\r\nb\r\n\r\n');
  });
});

describe('POP3 dot-unstuffing with indexOf jumps', () => {
  /** Bytes emitted and the terminator's offset in the whole input, -1 if none. */
  function decodeAll(d: { decode(c: Buffer, f: number, e: (b: Buffer) => void): number }, chunks: Buffer[]) {
    const out: Buffer[] = [];
    let offset = 0;
    for (const chunk of chunks) {
      const end = d.decode(chunk, 0, (b) => out.push(Buffer.from(b)));
      if (end >= 0) return { bytes: Buffer.concat(out), end: offset + end };
      offset += chunk.length;
    }
    return { bytes: Buffer.concat(out), end: -1 };
  }

  it('equals the per-line decoder on any input at any chunk split', () => {
    const wire = fc.array(
      fc.oneof(
        {
          weight: 4,
          arbitrary: fc.constantFrom('\r\n.', '\r\n..', '.\r\n', '\r\n', '\r', '\n', '.', 'ab', '.\r'),
        },
        { weight: 1, arbitrary: fc.integer({ min: 60, max: 300 }).map((n) => 'Q'.repeat(n)) },
      ),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(wire, cuts, (parts, at) => {
        const data = Buffer.from(parts.join(''), 'latin1');
        const want = decodeAll(new DotDecoderPerLine(), [data]);
        const got = decodeAll(new DotDecoder(), split(data, at));
        expect(got.end).toBe(want.end);
        expect(got.bytes.toString('latin1')).toBe(want.bytes.toString('latin1'));
      }),
      { numRuns: 1000 },
    );
  });
});
