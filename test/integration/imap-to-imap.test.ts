import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, runOptions } from '../helpers/cli.js';
import { doneCount, runAndKill } from '../helpers/kill.js';
import { countBy, readAccount, type StoredMessage, signature } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { doveadm } from '../rig/dovecot.js';
import { corpusMessages, DEFAULT_FOLDERS, type SeededMessage, seedAccount } from '../rig/seed.js';

let src: { user: string; password: string };
let seeded: SeededMessage[];

beforeAll(async () => {
  src = await freshAccount('i2i-src');
  seeded = await seedAccount(rig(), src.user, { folders: DEFAULT_FOLDERS, edgeCases: 'INBOX', flags: true });
}, 300_000);

function copyArgs(sinkUser: string, stateDir: string, extra: string[] = []): string[] {
  return [
    'copy',
    imapUrl(src.user, { tls: 'imap' }),
    imapUrl(sinkUser, { tls: 'imap' }),
    ...runOptions(stateDir),
    ...extra,
  ];
}

/** Per folder: the same multiset of (bytes, flags, internal date to the second). */
function expectSameMailbox(a: Map<string, StoredMessage[]>, b: Map<string, StoredMessage[]>): void {
  const nonEmpty = (m: Map<string, StoredMessage[]>) =>
    [...m]
      .filter(([, v]) => v.length)
      .map(([k]) => k)
      .sort();
  expect(nonEmpty(b)).toEqual(nonEmpty(a));
  for (const [folder, msgs] of a) {
    expect(b.get(folder)?.length ?? 0, folder).toBe(msgs.length);
    expect(countBy(b.get(folder) ?? [], signature), folder).toEqual(countBy(msgs, signature));
  }
}

async function withClient<T>(user: string, password: string, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = new ImapFlow({
    host: rig().host,
    port: rig().ports.imap,
    secure: false,
    auth: { user, pass: password },
    logger: false,
    doSTARTTLS: false,
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.logout().catch(() => undefined);
  }
}

describe('IMAP → IMAP against the real Dovecot', () => {
  let sink: { user: string; password: string };
  let stateDir: string;
  const env = () => ({ MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password });

  it('copies 2,000+ messages in 5+ folders with bytes, flags, keywords and dates equal', async () => {
    expect(seeded.length).toBeGreaterThanOrEqual(2000);
    expect(new Set(seeded.map((s) => s.folder)).size).toBeGreaterThanOrEqual(5);
    sink = await freshAccount('i2i-dst');
    stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const res = await runCli(copyArgs(sink.user, stateDir), env());
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ copied: seeded.length, failed: [] });
    const [a, b] = await Promise.all([
      readAccount(src.user, src.password),
      readAccount(sink.user, sink.password),
    ]);
    expectSameMailbox(a, b);
    expect([...(b.get('Entwürfe') ?? [])].length).toBeGreaterThan(0);
    expect((b.get('INBOX') ?? []).some((m) => m.flags.some((f) => !f.startsWith('\\')))).toBe(true);
    // Special-use folders land in the sink's special-use folders.
    const uses = await withClient(sink.user, sink.password, async (c) =>
      (await c.list()).filter((l) => l.specialUse).map((l) => `${l.specialUse}=${l.path}`),
    );
    expect(uses).toEqual(expect.arrayContaining(['\\Sent=Sent', '\\Drafts=Drafts', '\\Trash=Trash']));
  });

  it('a second run copies 0; then exactly 10 flag changes and 5 new messages come across', async () => {
    const again = await runCli(copyArgs(sink.user, stateDir), env());
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, flagsUpdated: 0 });
    await withClient(src.user, src.password, async (c) => {
      const lock = await c.getMailboxLock('INBOX');
      try {
        await c.messageFlagsAdd('1:10', ['\\Flagged', '$Important']);
        for (const raw of corpusMessages(5, 4000))
          await c.append('INBOX', raw, ['\\Seen'], new Date('2021-06-01T10:00:00Z'));
      } finally {
        lock.release();
      }
    });
    const third = await runCli(copyArgs(sink.user, stateDir), env());
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout)).toMatchObject({ copied: 5, flagsUpdated: 10 });
    const [a, b] = await Promise.all([
      readAccount(src.user, src.password),
      readAccount(sink.user, sink.password),
    ]);
    expectSameMailbox(a, b);
  });

  it('after the source UIDVALIDITY changes, a re-run copies 0', async () => {
    await doveadm(rig(), [
      'mailbox',
      'update',
      '-u',
      src.user,
      '--uid-validity',
      String(Math.floor(Date.now() / 1000) + 7),
      'INBOX',
    ]);
    const res = await runCli(copyArgs(sink.user, stateDir), env());
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ copied: 0 });
  });

  it('verify exits 0, and 1 once a sink message is removed', async () => {
    const ok = await runCli(['verify', ...copyArgs(sink.user, stateDir).slice(1)], env());
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    await withClient(sink.user, sink.password, async (c) => {
      const lock = await c.getMailboxLock('Sent');
      try {
        await c.messageDelete('1');
      } finally {
        lock.release();
      }
    });
    const bad = await runCli(['verify', ...copyArgs(sink.user, stateDir).slice(1)], env());
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.folders.find((f: { source: string }) => f.source === 'Sent').missing).toHaveLength(1);
  });
});

describe('IMAP → IMAP survives SIGKILL', () => {
  it('killed at three points, then resumed: every message exactly once', async () => {
    const sink = await freshAccount('i2i-crash');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password };
    let kills = 0;
    for (const at of [50, 700, 1500]) {
      const r = await runAndKill(
        copyArgs(sink.user, stateDir, ['--max-messages-per-second', '400']),
        env,
        () => doneCount(stateDir) >= at,
      );
      if (r.killed) kills++;
    }
    expect(kills).toBe(3);
    const final = await runCli(copyArgs(sink.user, stateDir), env);
    expect(final.code, final.stderr).toBe(0);
    const [a, b] = await Promise.all([
      readAccount(src.user, src.password),
      readAccount(sink.user, sink.password),
    ]);
    for (const [folder, msgs] of a) {
      expect(
        countBy(b.get(folder) ?? [], (m) => m.sha256),
        folder,
      ).toEqual(countBy(msgs, (m) => m.sha256));
    }
  });
});
