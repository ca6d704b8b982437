import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asctime,
  envelopeSender,
  formatFromLine,
  MboxrdCodec,
  mboxrdApply,
  parseFromLine,
  type QuoteMode,
} from '../../src/formats/mbox/mboxrd.js';
import { scanMbox } from '../../src/formats/mbox/scan.js';
import { crlfSha256 } from '../../src/mail/hash.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Run the codec with the input cut at `cuts` (sorted offsets). */
function runSplit(mode: QuoteMode, data: Buffer, cuts: number[]): Buffer {
  const codec = new MboxrdCodec(mode);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    out.push(codec.update(data.subarray(prev, c)));
    prev = c;
  }
  out.push(codec.end());
  return Buffer.concat(out);
}

const TRICKY: Record<string, Buffer> = {
  fromLines: b('Subject: x\n\nFrom here on\n>From quoted\n>>From twice\nFrom\nFrom  \n>>>>From deep\nFrom'),
  crlf: b('Subject: crlf\r\n\r\nFrom me\r\n>From you\r\n>>From them\r\nplain\r\n'),
  noTrailingNewline: b('Subject: t\n\nlast line From x'),
  emptyAndGt: b('\n>\n>>\n>F\n>Fro\n>From\nFrom\n>From '),
  eightBit: Buffer.concat([
    b('Subject: \xe4\xf6\xfc\n\n'),
    Buffer.from([0xff, 0x00, 0x80, 0x0a]),
    b('From \xe9t\xe9\n'),
  ]),
  startsWithFrom: b('From the first byte\n'),
  loneCr: b('a\rFrom x\r\nb\n\rFrom y\n'),
};

describe('mboxrd quoting', () => {
  it('quotes exactly the lines matching /^>*From /', () => {
    expect(mboxrdApply('quote', TRICKY.fromLines!).toString('latin1')).toBe(
      'Subject: x\n\n>From here on\n>>From quoted\n>>>From twice\nFrom\n>From  \n>>>>>From deep\nFrom',
    );
    expect(mboxrdApply('quote', TRICKY.crlf!).toString('latin1')).toBe(
      'Subject: crlf\r\n\r\n>From me\r\n>>From you\r\n>>>From them\r\nplain\r\n',
    );
    // A CR alone does not start a line.
    expect(mboxrdApply('quote', TRICKY.loneCr!).toString('latin1')).toBe('a\rFrom x\r\nb\n\rFrom y\n');
    expect(mboxrdApply('quote', b('From')).toString('latin1')).toBe('From');
  });

  it('round-trips at every chunk boundary, in one, two and three pieces', () => {
    for (const [name, data] of Object.entries(TRICKY)) {
      const quoted = mboxrdApply('quote', data);
      expect(quoted.subarray(0, 5).toString() === 'From ' && name !== 'startsWithFrom').toBe(false);
      for (let i = 0; i <= data.length; i++) {
        expect(runSplit('quote', data, [i]), `${name} quote cut ${i}`).toEqual(quoted);
      }
      for (let i = 0; i <= quoted.length; i++) {
        expect(runSplit('unquote', quoted, [i]), `${name} unquote cut ${i}`).toEqual(data);
        for (let j = i; j <= Math.min(quoted.length, i + 7); j++) {
          expect(runSplit('unquote', quoted, [i, j])).toEqual(data);
          expect(runSplit('quote', data, [Math.min(i, data.length), Math.min(j, data.length)])).toEqual(
            quoted,
          );
        }
      }
      expect(crlfSha256(mboxrdApply('unquote', quoted))).toBe(crlfSha256(data));
    }
  });

  it('handles byte-at-a-time input and a 200 KB line', () => {
    const long = Buffer.concat([
      b('Subject: long\n\n'),
      Buffer.alloc(200 * 1024, 0x3e),
      b('From x\nFrom y\n'),
    ]);
    const quoted = mboxrdApply('quote', long);
    expect(quoted.length).toBe(long.length + 2);
    const cuts = Array.from({ length: quoted.length - 1 }, (_, i) => i + 1).filter(
      (i) => i % 997 === 0 || i > quoted.length - 20,
    );
    expect(runSplit('unquote', quoted, cuts)).toEqual(long);
    const data = TRICKY.fromLines!;
    const everyByte = Array.from({ length: data.length }, (_, i) => i);
    expect(runSplit('unquote', runSplit('quote', data, everyByte), everyByte)).toEqual(data);
  });

  it('round-trips random messages built from tricky pieces', () => {
    const pieces = ['From ', '>From ', '>>', 'From', '\n', '\r\n', 'x', ' ', '>', '\xff', 'F', 'rom '];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const data = b(Array.from({ length: 1 + rand(40) }, () => pieces[rand(pieces.length)]).join(''));
      const quoted = mboxrdApply('quote', data);
      // No line of the quoted form starts with a bare "From ", except where the data did at byte 0.
      expect(/\nFrom /.test(quoted.toString('latin1'))).toBe(false);
      const cut = rand(quoted.length + 1);
      expect(runSplit('unquote', quoted, [cut])).toEqual(data);
    }
  });
});

describe('From lines', () => {
  it('writes asctime in UTC with a space-padded day', () => {
    expect(asctime(new Date(Date.UTC(2002, 7, 2, 5, 6, 7)))).toBe('Fri Aug  2 05:06:07 2002');
    expect(formatFromLine('a@b', new Date(Date.UTC(2024, 11, 31, 23, 59, 59))).toString()).toBe(
      'From a@b Tue Dec 31 23:59:59 2024\n',
    );
  });

  it('takes the envelope sender from Return-Path, else MAILER-DAEMON', () => {
    expect(envelopeSender('<bounce@example.org>')).toBe('bounce@example.org');
    expect(envelopeSender('<>')).toBe('MAILER-DAEMON');
    expect(envelopeSender(undefined)).toBe('MAILER-DAEMON');
    expect(envelopeSender('we ird@x y')).toBe('weird@xy');
  });

  it('parses the From line variants mail programs write', () => {
    expect(parseFromLine('From exmh@redhat.com  Thu Aug 22 12:36:23 2002').date?.toISOString()).toBe(
      '2002-08-22T12:36:23.000Z',
    );
    expect(parseFromLine('From - Sat Jan  3 01:05:34 1996').date?.toISOString()).toBe(
      '1996-01-03T01:05:34.000Z',
    );
    expect(parseFromLine('From 1234@xxx Mon Mar 04 10:00:00 +0200 2024').date?.toISOString()).toBe(
      '2024-03-04T08:00:00.000Z',
    );
    expect(parseFromLine('From x Tue Dec 31 23:59:59 2024').sender).toBe('x');
    expect(parseFromLine('From nonsense').date).toBeUndefined();
  });
});

describe('plain mbox scan', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mf-scan-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('splits only on From lines after a blank line and reads flags and dates', async () => {
    const text =
      'From a@x Thu Aug 22 12:36:23 2002\nMessage-ID:\n <one@x>\nStatus: RO\nX-Status: AF\n\nbody\nFrom inside\n>From q\n\n' +
      'From - Fri Aug 23 00:00:00 2002\r\nX-Mozilla-Status: 1003\r\nDate: Fri, 23 Aug 2002 10:00:00 +0000\r\n\r\nhi\r\n\r\n' +
      'From b@x Sat Aug 24 00:00:00 2002\nSubject: no newline at end\n\nend';
    const path = join(dir, 'plain.mbox');
    await writeFile(path, text, 'latin1');
    const msgs = await scanMbox(path);
    expect(msgs.map((m) => m.messageId)).toEqual(['one@x', undefined, undefined]);
    expect(msgs[0]!.flags.sort()).toEqual(['\\Answered', '\\Flagged', '\\Seen']);
    expect(msgs[1]!.flags.sort()).toEqual(['$Forwarded', '\\Answered', '\\Seen']);
    expect(msgs[0]!.internalDate?.toISOString()).toBe('2002-08-22T12:36:23.000Z');
    const first = text.slice(msgs[0]!.start, msgs[0]!.start + msgs[0]!.stored);
    expect(first.endsWith('>From q\n')).toBe(true);
    // CRLF size of the unquoted message: one '>' less, one CR per bare LF.
    const unquoted = mboxrdApply('unquote', b(first));
    expect(msgs[0]!.size).toBe(unquoted.length + (unquoted.toString().match(/\n/g)?.length ?? 0));
    const second = text.slice(msgs[1]!.start, msgs[1]!.start + msgs[1]!.stored);
    expect(second).toBe('X-Mozilla-Status: 1003\r\nDate: Fri, 23 Aug 2002 10:00:00 +0000\r\n\r\nhi\r\n');
    expect(msgs[1]!.size).toBe(second.length);
    expect(text.slice(msgs[2]!.start)).toBe('Subject: no newline at end\n\nend');
    expect(msgs[2]!.stored).toBe('Subject: no newline at end\n\nend'.length);
  });

  it('refuses a file that does not start with a From line', async () => {
    const path = join(dir, 'not.mbox');
    await writeFile(path, 'Subject: hello\n\nnot an mbox\n');
    await expect(scanMbox(path)).rejects.toThrow(/not an mbox file/);
  });
});
