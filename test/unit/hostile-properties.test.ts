import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MboxrdCodec } from '../../src/formats/mbox/mboxrd.js';
import {
  collisionKey,
  isSafeRelativePath,
  SafePathAllocator,
  safeFolderPath,
  safeSegment,
} from '../../src/mail/safe-names.js';
import { DotDecoder } from '../../src/pop3/dot.js';
import { readFileEndpoint, writeFileEndpoint } from '../corpus/read-back.js';

/**
 * Random messages biased towards what breaks mail code ("From " lines, quoted ones, dots,
 * bare CR and LF, NUL) and random folder names, through every writer+reader pair and codec.
 */

const TOKENS = [
  'From ',
  '>From ',
  '>>From ',
  'From',
  '.',
  '..',
  '\r',
  '\n',
  '\r\n',
  '\0',
  'x',
  'ab ',
  '>',
  ' ',
];
const token = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKENS).map((t) => Buffer.from(t, 'latin1')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)) },
);
const message = fc.array(token, { maxLength: 60 }).map((parts) => Buffer.concat(parts));
/** Cut points for splitting a buffer into chunks at arbitrary boundaries. */
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 8 });

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

const segmentChars = fc.constantFrom(
  ...'aZ09 .%*&"\'\\:<>|?~-_#'.split(''),
  'ü',
  '日',
  'É',
  'e\u0301',
  '\u0000',
  '\t',
  'CON',
  'nul',
);
const segment = fc.array(segmentChars, { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
const longSegment = fc.integer({ min: 190, max: 260 }).map((n) => 'L'.repeat(n));
const folderName = fc
  .array(fc.oneof({ weight: 8, arbitrary: segment }, { weight: 1, arbitrary: longSegment }), {
    minLength: 1,
    maxLength: 3,
  })
  .map((parts) => parts.join('/'));

describe('mboxrd quoting', () => {
  it('unquote(quote(m)) is m at any chunk split', () => {
    fc.assert(
      fc.property(message, cuts, cuts, (m, a, b) => {
        const q = new MboxrdCodec('quote');
        const quoted = Buffer.concat([...split(m, a).map((c) => q.update(c)), q.end()]);
        // No line of the quoted text starts with "From ": a reader cannot split there.
        expect(/(^|\n)From /.test(quoted.toString('latin1'))).toBe(false);
        const u = new MboxrdCodec('unquote');
        const back = Buffer.concat([...split(quoted, b).map((c) => u.update(c)), u.end()]);
        expect(back.equals(m)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('POP3 dot-stuffing', () => {
  /** What a server sends for `raw`: dots stuffed after each CRLF, a CRLF added if missing, then ".". */
  function stuff(raw: Buffer): Buffer {
    const text = raw.toString('latin1');
    const body = text.endsWith('\r\n') ? text : `${text}\r\n`;
    return Buffer.from(`${body.replace(/(^|\r\n)\./g, '$1..')}.\r\n`, 'latin1');
  }

  it('unstuffing gives back the bytes (plus the CRLF the server added) at any chunk split', () => {
    fc.assert(
      fc.property(message, cuts, fc.uint8Array({ maxLength: 6 }), (m, at, after) => {
        const wire = Buffer.concat([stuff(m), Buffer.from(after)]);
        const d = new DotDecoder();
        const out: Buffer[] = [];
        let end = -1;
        let offset = 0;
        for (const chunk of split(wire, at)) {
          if (end < 0) {
            const r = d.decode(chunk, 0, (b) => out.push(Buffer.from(b)));
            if (r >= 0) end = offset + r;
          }
          offset += chunk.length;
        }
        const want = m.toString('latin1').endsWith('\r\n') ? m : Buffer.concat([m, Buffer.from('\r\n')]);
        expect(Buffer.concat(out).equals(want)).toBe(true);
        // It stops right after the terminator: what follows belongs to the next reply.
        expect(end).toBe(wire.length - after.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('safe folder names', () => {
  it('map injectively and stably to safe relative paths', () => {
    fc.assert(
      fc.property(fc.uniqueArray(folderName, { maxLength: 12 }), (names) => {
        const seen = new Map<string, string>();
        for (const name of names) {
          const segs = safeFolderPath(name, '/');
          expect(safeFolderPath(name, '/')).toEqual(segs);
          expect(isSafeRelativePath(segs.join('/')), `${JSON.stringify(name)} -> ${segs.join('/')}`).toBe(
            true,
          );
          const key = segs.join('/');
          const nfc = name.normalize('NFC');
          const before = seen.get(key);
          // Only names equal up to Unicode normalisation may share a path.
          if (before !== undefined) expect(before).toBe(nfc);
          seen.set(key, nfc);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a single segment never navigates, and the allocator never merges two folders', () => {
    fc.assert(
      fc.property(fc.uniqueArray(folderName, { maxLength: 12 }), (names) => {
        for (const n of names) expect(['', '.', '..']).not.toContain(safeSegment(n));
        const a = new SafePathAllocator();
        const paths = names.map((n) => a.claim(n, '/'));
        const keys = paths.map((p) => collisionKey(p));
        expect(new Set(keys).size).toBe(names.length);
        // Stable: a second run that reads the mappings back hands out the same paths.
        const b = new SafePathAllocator();
        for (const [i, n] of names.entries()) b.reserve(SafePathAllocator.split(n, '/'), paths[i]!);
        expect(names.map((n) => b.claim(n, '/'))).toEqual(paths);
      }),
      { numRuns: 200 },
    );
  });
});

describe('file sinks and sources', () => {
  const entry = fc.record({
    folder: fc.oneof({ weight: 3, arbitrary: fc.constant('INBOX') }, { weight: 2, arbitrary: folderName }),
    raw: message,
    chunk: fc.integer({ min: 1, max: 64 }),
  });

  for (const kind of ['mbox', 'zip'] as const) {
    it(`${kind}: every message comes back byte-exact, in its folder`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (messages) => {
          const dir = mkdtempSync(join(tmpdir(), `mf-prop-${kind}-`));
          try {
            const url = kind === 'mbox' ? `mbox:${join(dir, 'out')}` : `zip:${join(dir, 'out.zip')}`;
            await writeFileEndpoint(url, messages);
            const held = await readFileEndpoint(url, { bytes: true });
            const got = held.map((h) => `${h.folder}\n${h.raw!.toString('hex')}`).sort();
            const want = messages.map((m) => `${m.folder}\n${m.raw.toString('hex')}`).sort();
            expect(got).toEqual(want);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }),
        { numRuns: 25 },
      );
    }, 60_000);
  }
});
