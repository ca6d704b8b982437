import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerEndpoint } from '../../src/endpoint.js';
import { LimitError } from '../../src/errors.js';
import { mapImapError } from '../../src/imap/errors.js';
import { labelKeyword, labelTokens, placementOf } from '../../src/plan/labels.js';
import { runCli } from '../helpers/cli.js';
import { GMAIL_ALL, type GmailMessage, startGmail } from '../helpers/gmail-server.js';
import { copyFrom, hostileDirs } from '../helpers/hostile-run.js';
import type { HostileServer } from '../helpers/hostile-server.js';

const endpoint: ServerEndpoint = {
  kind: 'imap',
  protocol: 'imaps',
  secure: true,
  host: 'imap.gmail.com',
  port: 993,
  user: 'me@gmail.com',
};

describe('Gmail labels as keywords', () => {
  it('maps system labels to placement and flags, user labels to atom keywords', () => {
    const tokens = labelTokens(['\\Inbox', '\\Important', '\\Starred', 'Work/Q1 2024', 'Büro', '"(*)"']);
    expect(tokens).toEqual(['INBOX', '\\Flagged', 'Work/Q1 2024', 'Büro', '"(*)"']);
    const p = placementOf(tokens);
    expect(p.place).toBe('INBOX');
    expect(p.flagged).toBe(true);
    expect(p.keywords).toEqual(['B_ro', 'Work/Q1_2024']);
    expect(placementOf(labelTokens(['\\Sent', '\\Inbox'])).place).toBe('\\Sent');
    expect(placementOf(labelTokens(['\\Draft'])).place).toBe('\\Drafts');
    expect(placementOf(['Lists']).place).toBe('\\Archive');
    expect(labelKeyword('(]')).toBeUndefined();
  });
});

describe("Gmail's daily limit", () => {
  it('NO [OVERQUOTA] Account exceeded ... is exit 4 with the time to resume', () => {
    const err = Object.assign(new Error('Command failed'), {
      responseStatus: 'NO',
      responseText: 'Account exceeded command or bandwidth limits. (Failure)',
      serverResponseCode: 'OVERQUOTA',
    });
    const before = Date.now();
    const e = mapImapError(err, { endpoint, op: 'append', folder: 'INBOX' });
    expect(e).toBeInstanceOf(LimitError);
    expect(e.exitCode).toBe(4);
    expect(e.message).toMatch(/for the day/);
    const at = /after (\S+Z) to resume/.exec(e.hint ?? '')?.[1];
    expect(at).toBeDefined();
    const wait = new Date(at!).getTime() - before;
    expect(wait).toBeGreaterThan(23 * 3600_000);
    expect(wait).toBeLessThanOrEqual(24 * 3600_000 + 1000);
  });

  it('a daily upload limit said in words is the same; a short [LIMIT] burst is still throttling', () => {
    const words = { responseStatus: 'NO', responseText: 'Daily upload limit exceeded, try tomorrow' };
    expect(mapImapError(words, { endpoint, op: 'append' }).code).toBe('ELIMIT');
    const burst = {
      responseStatus: 'NO',
      responseText: 'Account exceeded command or bandwidth limits',
      serverResponseCode: 'LIMIT',
    };
    expect(mapImapError(burst, { endpoint, op: 'message' }).code).toBe('ETHROTTLED');
  });
});

const same = () => Buffer.from('Message-ID: <same@x>\r\nSubject: s\r\n\r\nbody\r\n');
const distinct = (n: number) => Buffer.from(`Message-ID: <g${n}@x>\r\nSubject: ${n}\r\n\r\nbody ${n}\r\n`);

/**
 * Gmail: A is labelled INBOX and Work; B has the same bytes (same Message-ID and size) but is
 * archived; C is only in Work, D archived. Message-ID+size cannot tell A's two labels from B:
 * X-GM-MSGID can.
 */
function account(): Record<string, GmailMessage[]> {
  const A = { gmId: '1001', bytes: same(), labels: ['\\Inbox', 'Work'] };
  const B = { gmId: '1002', bytes: same(), labels: [] };
  const C = { gmId: '1003', bytes: distinct(3), labels: ['Work'] };
  const D = { gmId: '1004', bytes: distinct(4), labels: ['\\Starred'] };
  return { INBOX: [A], Work: [A, C], [GMAIL_ALL]: [A, B, C, D] };
}

function count(file: string, needle: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'latin1').split(needle).length - 1;
}

describe('a Gmail source (scripted X-GM-EXT-1 server)', () => {
  let server: HostileServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('folders: All Mail adds exactly what no label holds, told apart by X-GM-MSGID', async () => {
    server = await startGmail(account());
    const d = hostileDirs('gmail');
    const res = await copyFrom(`imap://user@127.0.0.1:${server.port}`, `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(0);
    expect(res.report!.copied).toBe(5);
    expect(count(join(d.sink, 'INBOX.mbox'), '<same@x>')).toBe(1);
    expect(count(join(d.sink, 'Work.mbox'), 'Message-ID:')).toBe(2);
    // B (same bytes as A, archived) and D: both, once.
    expect(count(join(d.sink, 'Archive.mbox'), '<same@x>')).toBe(1);
    expect(count(join(d.sink, 'Archive.mbox'), '<g4@x>')).toBe(1);
    expect(server.commands.some((l) => /X-GM-MSGID/.test(l))).toBe(true);
  });

  it('keywords: one copy each, from All Mail, carrying X-GM-LABELS', async () => {
    server = await startGmail(account());
    const d = hostileDirs('gmail-kw');
    const res = await runCli(
      [
        'plan',
        `imap://user@127.0.0.1:${server.port}`,
        `mbox:${d.sink}`,
        '--state-dir',
        d.state,
        '--json',
        '--gmail-labels',
        'keywords',
      ],
      { MAILFERRY_SOURCE_PASSWORD: 'secret' },
    );
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout) as {
      folders: Array<{
        source: { name: string };
        target: { name: string };
        copy: Array<{ flags: string[]; messageId?: string }>;
      }>;
    };
    const copies = plan.folders.flatMap((f) =>
      f.copy.map((c) => ({ from: f.source.name, to: f.target.name, ...c })),
    );
    expect(copies.every((c) => c.from === GMAIL_ALL)).toBe(true);
    expect(copies.length).toBe(4);
    const inbox = copies.filter((c) => c.to === 'INBOX');
    expect(inbox.map((c) => c.flags)).toEqual([['Work', '\\Seen'].sort()]);
    const archive = copies.filter((c) => c.to === 'Archive');
    expect(archive.map((c) => c.flags.join(' ')).sort()).toEqual(
      [['\\Seen'], ['Work', '\\Seen'].sort(), ['\\Flagged', '\\Seen']].map((f) => f.join(' ')).sort(),
    );
  });
});
