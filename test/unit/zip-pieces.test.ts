import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { deflatePieces, looksBase64, PieceDeflater } from '../../src/formats/zip/pieces.js';
import { ZipWriter } from '../../src/formats/zip/writer.js';
import { checkWithAllReaders, sha256 } from './fixtures/zip-check.js';

/** A message with a text part and a base64 attachment of `attachment` bytes (CRLF lines). */
function mail(text: number, attachment: number): Buffer {
  const words = 'the quick brown fox jumps over the lazy dog From here . on\r\n';
  const body = words.repeat(Math.ceil(text / words.length)).slice(0, text);
  const b64 = (
    randomBytes(attachment)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
  return Buffer.from(
    `Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n${body}\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`,
  );
}

async function streamed(data: Buffer, cuts: number[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const d = new PieceDeflater(3, async (p) => {
    out.push(p);
  });
  let prev = 0;
  for (const c of [...cuts.map((n) => n % (data.length + 1)).sort((a, b) => a - b), data.length]) {
    await d.write(data.subarray(prev, c));
    prev = c;
  }
  await d.end();
  return Buffer.concat(out);
}

describe('deflate in pieces', () => {
  it('tells base64 bodies from text', () => {
    expect(
      looksBase64(
        Buffer.from(
          (
            randomBytes(30_000)
              .toString('base64')
              .match(/.{1,76}/g) ?? []
          ).join('\r\n'),
        ),
      ),
    ).toBe(true);
    expect(looksBase64(mail(40_000, 0))).toBe(false);
    expect(looksBase64(Buffer.from('QUJD'.repeat(100)))).toBe(false); // too short to bother
  });

  it('inflates back to the input, whole or streamed at any chunk split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 0, max: 900_000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (text, attachment, cuts) => {
          const data = mail(text, attachment);
          const whole = Buffer.concat(await deflatePieces(data, 3));
          expect(inflateRawSync(whole).equals(data)).toBe(true);
          expect(inflateRawSync(await streamed(data, cuts)).equals(data)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('codes an empty entry as one final block', async () => {
    expect(Buffer.concat(await deflatePieces(Buffer.alloc(0), 3))).toEqual(Buffer.from([0x03, 0x00]));
    expect(await streamed(Buffer.alloc(0), [])).toEqual(Buffer.from([0x03, 0x00]));
  });
});

describe('ZipWriter with attachment-sized entries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-zip-pieces-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes entries read ahead and streamed in pieces that every reader accepts', async () => {
    const path = join(dir, 'a.zip');
    const { writer } = await ZipWriter.open(path, { fsync: false });
    // Sizes around AHEAD_ENTRY (1 MiB) and the 256 KiB piece, plus a 3 MB one that streams.
    const bodies = [
      mail(2_000, 0),
      mail(5_000, 200_000),
      mail(1_000, 760_000),
      mail(3_000, 790_000),
      mail(500, 2_300_000),
    ];
    const added = bodies.map((b, i) =>
      writer.addEntry(
        { name: `INBOX/${i}.eml`, mtime: new Date(Date.UTC(2024, 0, 1)), sizeHint: b.length },
        Readable.from(b.length > 1_000_000 ? [b.subarray(0, 70_000), b.subarray(70_000)] : [b]),
      ),
    );
    const entries = await Promise.all(added);
    await writer.finish();
    await writer.close();
    expect(entries.map((e) => e.size)).toEqual(bodies.map((b) => b.length));
    // Entries are laid out in the order they were added, each after the one before.
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.offset).toBe(entries[i - 1]!.end);
    const { digests } = await checkWithAllReaders(path);
    for (const [i, b] of bodies.entries()) expect(digests.get(`INBOX/${i}.eml`)).toBe(sha256(b));
  });
});
