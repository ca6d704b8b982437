import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, runOptions } from '../helpers/cli.js';
import { journalLines } from '../helpers/kill.js';
import { countBy, readAccount, signature } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { sizeBytes } from '../rig/config.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

/** Size of a message as sent over IMAP: every bare LF becomes CRLF. */
function crlfSize(raw: Buffer): number {
  let n = raw.length;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 0x0a && raw[i - 1] !== 0x0d) n++;
  return n;
}

/** Source UID of each seeded message: a fresh account numbers each folder from 1, in seed order. */
function withUids(seeded: SeededMessage[]): Array<SeededMessage & { uid: string }> {
  const next = new Map<string, number>();
  return seeded.map((m) => {
    const uid = (next.get(m.folder) ?? 0) + 1;
    next.set(m.folder, uid);
    return { ...m, uid: String(uid) };
  });
}

/** signature() of a seeded message, as readAccount() would give it for a faithful copy. */
function seededSignature(m: SeededMessage): string {
  return signature({
    uid: 0,
    size: 0,
    sha256: m.sha256,
    flags: [...m.flags].sort(),
    internalDate: m.internalDate,
  });
}

const failedKeys = (report: { failed: Array<{ folder: string; id: string }> }) =>
  report.failed.map((f) => `${f.folder}/${f.id}`).sort();

describe('MULTIAPPEND to a sink that refuses messages over 20 KiB', () => {
  // These corpus windows have no message between 19,391 and 23,554 bytes (CRLF), so a 20 KiB
  // limit splits them cleanly: 5 + 3 messages over it, all under the 1 MiB single-APPEND cutoff.
  const LIMIT = '20k';

  let src: { user: string; password: string };
  let seeded: Array<SeededMessage & { uid: string }>;
  let tooBig: typeof seeded;
  let fits: typeof seeded;

  beforeAll(async () => {
    src = await freshAccount('ma-src');
    seeded = withUids(
      await seedAccount(rig(), src.user, {
        folders: [
          { name: 'INBOX', count: 150, offset: 4500 },
          { name: 'Lists', count: 100, offset: 5500 },
        ],
        flags: true,
      }),
    );
    tooBig = seeded.filter((m) => crlfSize(m.raw) > sizeBytes(LIMIT));
    fits = seeded.filter((m) => crlfSize(m.raw) <= sizeBytes(LIMIT));
  });

  // Outside the `.fails` test below, so a changed corpus cannot pass unnoticed.
  it('the seeded folders have several batchable messages over the limit, none borderline', () => {
    expect(tooBig).toHaveLength(8);
    expect(new Set(tooBig.map((m) => m.folder))).toEqual(new Set(['INBOX', 'Lists']));
    expect(tooBig.every((m) => crlfSize(m.raw) < 1024 * 1024)).toBe(true);
    expect(seeded.every((m) => Math.abs(crlfSize(m.raw) - sizeBytes(LIMIT)) > 1024)).toBe(true);
  });

  // Dovecot refuses an over-size message inside a MULTIAPPEND with `NO [LIMIT] Mail size is
  // larger than ...`: only those messages fail, as ETOOBIG, not the batch as throttled.
  it('a batch refused for some too-big messages fails only those; a re-run duplicates nothing', async () => {
    const sink = await freshAccount('ma-dst', { maxMailSize: LIMIT });
    const state = mkdtempSync(join(tmpdir(), 'mf-state-'));
    // No retries: the batch itself must sort out its offenders, not the executor's retry loop
    // (which, given time, splits batches by chance and would hide a batch failed as a whole).
    const args = ['copy', imapUrl(src.user), imapUrl(sink.user), ...runOptions(state), '--retries', '0'];
    const env = { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password };
    const expectedFailed = tooBig.map((m) => `${m.folder}/${m.uid}`).sort();

    const expectOnlyOffendersFailed = (res: CliResult, copied: number) => {
      expect(res.code, res.stderr).toBe(1);
      const report = JSON.parse(res.stdout);
      expect(report.failed.map((f: { code: string }) => f.code)).toEqual(tooBig.map(() => 'ETOOBIG'));
      expect(failedKeys(report)).toEqual(expectedFailed);
      expect(report.copied).toBe(copied);
      return report.failed as Array<{ quarantined?: string }>;
    };
    // Every message that fits is there once, with its flags and date, and nothing else is.
    const expectSinkHoldsFits = async () => {
      const got = await readAccount(sink.user, sink.password);
      for (const folder of ['INBOX', 'Lists']) {
        const want = fits.filter((m) => m.folder === folder);
        const stored = got.get(folder) ?? [];
        expect(stored, folder).toHaveLength(want.length);
        expect(countBy(stored, signature), folder).toEqual(countBy(want, seededSignature));
      }
    };

    const failed = expectOnlyOffendersFailed(await runCli(args, env), fits.length);
    await expectSinkHoldsFits();
    expectOnlyOffendersFailed(await runCli(args, env), 0);
    await expectSinkHoldsFits();
    // Set aside once each, though refused twice.
    const zip = failed[0]?.quarantined;
    expect(zip).toMatch(/quarantine\.zip$/);
    const ls = await runCli(['ls', `zip:${zip}`, '--json'], {});
    expect(JSON.parse(ls.stdout).reduce((n: number, s: { messages: number }) => n + s.messages, 0)).toBe(8);
  });
});

describe('MULTIAPPEND batches of a few hundred messages', () => {
  // imap-to-imap.test.ts compares flags and dates as multisets per folder; this pairs each
  // message with the UID its MULTIAPPEND's APPENDUID gave it, so a shifted mapping shows.
  it('each message keeps its flags and INTERNALDATE, and the journal names its own sink UID', async () => {
    const src = await freshAccount('ma-flags-src');
    const seeded = withUids(
      await seedAccount(rig(), src.user, {
        folders: [
          { name: 'INBOX', count: 400, offset: 1000 },
          { name: 'Drafts', count: 80, offset: 1400, specialUse: '\\Drafts' },
        ],
        flags: true,
      }),
    );
    const sink = await freshAccount('ma-flags-dst');
    const state = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const res = await runCli(['copy', imapUrl(src.user), imapUrl(sink.user), ...runOptions(state)], {
      MAILFERRY_SOURCE_PASSWORD: src.password,
      MAILFERRY_SINK_PASSWORD: sink.password,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ copied: seeded.length, failed: [] });

    const got = await readAccount(sink.user, sink.password);
    const done = journalLines(state)
      .map((l) => JSON.parse(l))
      .filter((r) => r.t === 'done');
    expect(done).toHaveLength(seeded.length);
    const bySrc = new Map(seeded.map((m) => [`${m.folder}/${m.uid}`, m]));
    let checked = 0;
    for (const r of done as Array<{ f: string; id: string; to: string; sid?: string }>) {
      const want = bySrc.get(`${r.f}/${r.id}`)!;
      // Dovecot has UIDPLUS, so every MULTIAPPEND answers with APPENDUID.
      expect(r.sid, `${r.f}/${r.id}`).toBeDefined();
      const stored = (got.get(r.to) ?? []).find((m) => String(m.uid) === r.sid);
      expect(stored, `${r.f}/${r.id} -> ${r.to}/${r.sid}`).toBeDefined();
      expect(stored!.sha256).toBe(want.sha256);
      expect(stored!.flags).toEqual([...want.flags].sort());
      expect(stored!.internalDate.getTime()).toBe(want.internalDate.getTime());
      checked++;
    }
    expect(checked).toBe(seeded.length);
    // Seeded flags vary; a batch that gave all its messages one message's flags would not pass above.
    expect(new Set(seeded.map((m) => [...m.flags].sort().join(','))).size).toBeGreaterThan(5);
  });
});
