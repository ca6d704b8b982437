/** The suite's own instruments: if these miscounted, every fault row would be wrong. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crlfSha256 } from '../../src/mail/hash.js';
import { readMbox, tally } from './holdings.js';
import { prng } from './scenarios.js';
import { formatTable, type ResultRow } from './table.js';

describe('tally', () => {
  it('counts lost and extra copies per folder as multisets', () => {
    const want = new Map([
      ['INBOX', ['a', 'a', 'b']],
      ['Sent', ['c']],
    ]);
    const got = new Map([
      ['INBOX', ['a', 'b', 'b', 'b']],
      ['Trash', ['c']],
    ]);
    const t = tally(want, got);
    expect(t).toMatchObject({ lost: 2, duplicated: 3 });
    expect(t.detail).toBe('INBOX: 1 lost, 2 extra; Sent: 1 lost, 0 extra; Trash: 0 lost, 1 extra');
    expect(tally(want, new Map(want))).toEqual({ lost: 0, duplicated: 0, detail: '' });
  });
});

describe('readMbox', () => {
  const one = Buffer.from('Subject: one\r\n\r\nFrom here\r\n>From there\r\n');
  const quoted = Buffer.from('Subject: one\r\n\r\n>From here\r\n>>From there\r\n');
  const two = Buffer.from('Subject: two\n\nplain\n');

  function mbox(dir: string, withStray: boolean): void {
    const from = Buffer.from('From MAILER-DAEMON Thu Jan  1 00:00:00 2004\n');
    const parts = [from, quoted, Buffer.from('\n'), from, two, Buffer.from('\n')];
    if (withStray) parts.push(from, two, Buffer.from('\n'));
    const file = Buffer.concat(parts);
    mkdirSync(join(dir, 'Archive'), { recursive: true });
    writeFileSync(join(dir, 'Archive', '2002.mbox'), file);
    const first = from.length;
    const second = first + quoted.length + 1 + from.length;
    const lines = [
      { type: 'folder', format: 'mailferry-mboxrd', version: 1, name: 'Archive/2002', delimiter: '/' },
      { type: 'msg', id: '0', start: first, stored: quoted.length },
      { type: 'msg', id: 'x', start: second, stored: two.length },
    ];
    writeFileSync(
      join(dir, 'Archive', '2002.mbox.mailferry.jsonl'),
      lines.map((l) => JSON.stringify(l)).join('\n'),
    );
  }

  it('unquotes mboxrd From lines and files messages under the sidecar folder name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-holdings-'));
    mbox(dir, false);
    expect(readMbox(dir)).toEqual(new Map([['Archive/2002', [crlfSha256(one), crlfSha256(two)]]]));
  });

  it('counts a message the sidecar does not know as an extra one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-holdings-'));
    mbox(dir, true);
    const got = readMbox(dir).get('Archive/2002') ?? [];
    expect(got).toHaveLength(3);
    expect(
      tally(new Map([['Archive/2002', [crlfSha256(one), crlfSha256(two)]]]), readMbox(dir)).duplicated,
    ).toBe(1);
  });
});

describe('prng', () => {
  it('gives the same points for the same seed, within bounds', () => {
    const a = prng(7);
    const b = prng(7);
    const xs = Array.from({ length: 50 }, () => a(2, 10));
    expect(xs).toEqual(Array.from({ length: 50 }, () => b(2, 10)));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...xs)).toBeLessThanOrEqual(10);
    expect(new Set(xs).size).toBeGreaterThan(3);
  });
});

describe('formatTable', () => {
  it('prints one row per scenario with a summary', () => {
    const row: ResultRow = {
      pair: 'IMAP→zip',
      fault: 'cut',
      outcome: 'FAIL',
      lost: 1,
      duplicated: 0,
      verifyExit: 1,
      runExit: null,
      seconds: 2,
      notes: 'x',
    };
    const out = formatTable([row, { ...row, pair: 'IMAP→IMAP', outcome: 'ok', lost: 0, runExit: 0 }]).split(
      '\n',
    );
    expect(out[2]).toMatch(/^IMAP→IMAP\s+cut\s+ok\s+0\s+0\s+1\s+0\s+2\.0\s+x$/);
    expect(out[3]).toMatch(/^IMAP→zip\s+cut\s+FAIL\s+1\s+0\s+1\s+hung\s+2\.0\s+x$/);
    expect(out.at(-1)).toBe('2 scenario(s), 1 ok, 1 FAIL');
  });
});
