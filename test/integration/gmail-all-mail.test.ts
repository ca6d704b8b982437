import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runOptions } from '../helpers/cli.js';
import { readAccount, type StoredMessage } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { type RigInfo, stopRig } from '../rig/dovecot.js';
import { ARCHIVED_FOLDER, createGmailLikeAccount, startGmailLikeRig } from '../rig/virtual-all.js';

/**
 * A Gmail-like source (Dovecot with a virtual `[Gmail]/All Mail` \All folder): 50 messages,
 * 5 (10%) archived, i.e. only in All Mail; 5 labelled twice (INBOX and Work); Trash outside
 * All Mail as at Gmail.
 */
const USER = 'gmailish';
const PASSWORD = 'pw-gmailish';
let gm: RigInfo;

const LAYOUT: Array<[string, number[]]> = [
  ['INBOX', range(0, 20)],
  ['Work', [...range(15, 20), ...range(20, 32)]],
  ['Lists', range(32, 42)],
  ['Sent', range(42, 45)],
  [ARCHIVED_FOLDER, range(45, 50)],
  ['Trash', [50]],
];

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function message(n: number): string {
  return `From: a${n}@example.org\r\nTo: me@example.org\r\nSubject: message ${n}\r\nMessage-ID: <gm${n}@example.org>\r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\nbody ${n} ${'x'.repeat(n * 7)}\r\n`;
}

beforeAll(async () => {
  gm = await startGmailLikeRig();
  await createGmailLikeAccount(gm, USER, PASSWORD);
  const c = new ImapFlow({
    host: gm.host,
    port: gm.ports.imaps,
    secure: true,
    tls: { ca: [readFileSync(gm.caFile)] },
    auth: { user: USER, pass: PASSWORD },
    logger: false,
  });
  await c.connect();
  for (const [folder, ns] of LAYOUT) {
    if (!['INBOX', 'Sent', 'Trash'].includes(folder)) await c.mailboxCreate(folder);
    for (const n of ns) await c.append(folder, message(n), ['\\Seen']);
  }
  await c.logout();
}, 120_000);

afterAll(async () => {
  if (gm) await stopRig(gm);
});

function sourceUrl(): string {
  return `imaps://${USER}@127.0.0.1:${gm.ports.imaps}`;
}

async function copy(sinkUser: string, stateDir: string, extra: string[] = []) {
  const r = await runCli(
    ['copy', sourceUrl(), imapUrl(sinkUser), ...runOptions(stateDir), '--ca-file', gm.caFile, ...extra],
    { MAILFERRY_SOURCE_PASSWORD: PASSWORD, MAILFERRY_SINK_PASSWORD: sinkPasswords.get(sinkUser) },
  );
  expect(r.stderr.split('\n').filter((l) => l.startsWith('mailferry:'))).toEqual([]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { copied: number };
}

const sinkPasswords = new Map<string, string>();

async function sinkAccount(prefix: string) {
  const a = await freshAccount(prefix);
  sinkPasswords.set(a.user, a.password);
  return a;
}

function numbers(msgs: StoredMessage[] | undefined): number[] {
  return (msgs ?? []).map((m) => Number(/gm(\d+)@/.exec(m.messageId ?? '')?.[1])).sort((a, b) => a - b);
}

describe('Gmail-like source with a virtual \\All folder', () => {
  it('folders: every folder once, archived mail into Archive, none twice; a re-run copies nothing', async () => {
    const sink = await sinkAccount('gm-folders');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-gm-'));
    const first = await copy(sink.user, stateDir);
    const expected = LAYOUT.reduce((n, [, ns]) => n + ns.length, 0);
    expect(first.copied).toBe(expected);
    const got = await readAccount(sink.user, sink.password);
    for (const [folder, ns] of LAYOUT) {
      const at = folder === ARCHIVED_FOLDER ? 'Archive' : folder;
      expect(numbers(got.get(at)), at).toEqual([...ns].sort((a, b) => a - b));
    }
    expect([...got.keys()].some((k) => k.includes('All Mail'))).toBe(false);
    const again = await copy(sink.user, stateDir);
    expect(again.copied).toBe(0);
    // Without the checkpoint the sink is the truth: still nothing twice.
    const fresh = await copy(sink.user, mkdtempSync(join(tmpdir(), 'mf-gm-')));
    expect(fresh.copied).toBe(0);
    // verify compares the same plan, the residual included, byte for byte.
    const v = await runCli(
      ['verify', sourceUrl(), imapUrl(sink.user), ...runOptions(stateDir), '--ca-file', gm.caFile],
      { MAILFERRY_SOURCE_PASSWORD: PASSWORD, MAILFERRY_SINK_PASSWORD: sink.password },
    );
    expect(v.code, v.stderr + v.stdout).toBe(0);
    // An archived message gone from the sink's Archive: verify must say so.
    const sinkClient = new ImapFlow({
      host: '127.0.0.1',
      port: rig().ports.imaps,
      secure: true,
      tls: { ca: [readFileSync(rig().caFile)] },
      auth: { user: sink.user, pass: sink.password },
      logger: false,
    });
    await sinkClient.connect();
    await sinkClient.mailboxOpen('Archive');
    await sinkClient.messageDelete('1:1');
    await sinkClient.logout();
    const v2 = await runCli(
      ['verify', sourceUrl(), imapUrl(sink.user), ...runOptions(stateDir), '--ca-file', gm.caFile],
      { MAILFERRY_SOURCE_PASSWORD: PASSWORD, MAILFERRY_SINK_PASSWORD: sink.password },
    );
    expect(v2.code, v2.stdout).toBe(1);
  }, 120_000);

  it('keywords: one copy of each message, placed by INBOX/Sent, carrying its labels', async () => {
    const sink = await sinkAccount('gm-keywords');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-gm-'));
    const first = await copy(sink.user, stateDir, ['--gmail-labels', 'keywords']);
    expect(first.copied).toBe(51);
    const got = await readAccount(sink.user, sink.password);
    expect(numbers(got.get('INBOX'))).toEqual(range(0, 20));
    expect(numbers(got.get('Sent'))).toEqual(range(42, 45));
    expect(numbers(got.get('Archive'))).toEqual([...range(20, 42), ...range(45, 50)]);
    expect(numbers(got.get('Trash'))).toEqual([50]);
    expect(got.get('Work')?.length ?? 0).toBe(0);
    expect(got.get('Lists')?.length ?? 0).toBe(0);
    const flagsOf = (folder: string, n: number) =>
      got.get(folder)!.find((m) => m.messageId === `<gm${n}@example.org>`)!.flags;
    expect(flagsOf('INBOX', 3)).toEqual(['\\Seen']);
    expect(flagsOf('INBOX', 16)).toEqual(['Work', '\\Seen'].sort());
    expect(flagsOf('Archive', 25)).toEqual(['Work', '\\Seen'].sort());
    expect(flagsOf('Archive', 35)).toEqual(['Lists', '\\Seen'].sort());
    expect(flagsOf('Archive', 47)).toEqual(['\\Seen']);
    const again = await copy(sink.user, stateDir, ['--gmail-labels', 'keywords']);
    expect(again.copied).toBe(0);
  }, 120_000);
});
