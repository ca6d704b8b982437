import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, runOptions } from '../helpers/cli.js';
import { doneCount, runAndKill } from '../helpers/kill.js';
import { countBy, readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { doveadm } from '../rig/dovecot.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

const BIG = 3 * 1024 * 1024;

describe('a message the sink rejects as too big', () => {
  let src: { user: string; password: string };
  let seeded: SeededMessage[];

  beforeAll(async () => {
    src = await freshAccount('rej-src');
    seeded = await seedAccount(rig(), src.user, {
      folders: [
        { name: 'INBOX', count: 60, offset: 5300 },
        { name: 'Lists', count: 20, offset: 5400 },
      ],
      big: [{ folder: 'INBOX', bytes: BIG }],
    });
  });

  it('is set aside in the quarantine archive, listed in the report, and the run goes on with exit 1', async () => {
    const sink = await freshAccount('rej-dst', { maxMailSize: '1M' });
    const state = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const args = ['copy', imapUrl(src.user), imapUrl(sink.user), ...runOptions(state)];
    const env = { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password };
    const res = await runCli(args, env);
    expect(res.code, res.stderr).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.copied).toBe(seeded.length - 1);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ folder: 'INBOX', code: 'ETOOBIG' });
    expect(report.failed[0].quarantined).toMatch(/quarantine\.zip$/);
    // Restorable: the quarantine archive is an ordinary mailferry zip source.
    const other = await freshAccount('rej-restore');
    const restore = await runCli(
      [
        'copy',
        `zip:${report.failed[0].quarantined}`,
        imapUrl(other.user),
        '--map',
        'INBOX=Oversized',
        ...runOptions(state),
      ],
      { MAILFERRY_SINK_PASSWORD: other.password },
    );
    expect(restore.code, restore.stderr).toBe(0);
    const got = (await readAccount(other.user, other.password)).get('Oversized') ?? [];
    const big = seeded.find((m) => m.raw.length > BIG / 2)!;
    expect(got.map((m) => m.sha256)).toEqual([big.sha256]);
    // A re-run retries it, fails the same way, and does not set it aside twice.
    const again = await runCli(args, env);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0 });
    const twice = await runCli(['ls', `zip:${report.failed[0].quarantined}`, '--json'], {});
    expect(JSON.parse(twice.stdout).reduce((n: number, s: { messages: number }) => n + s.messages, 0)).toBe(
      1,
    );
  });

  it('a source folder that disappears mid-run is reported per message and the run exits 1', async () => {
    const owner = await freshAccount('rej-vanish');
    const vanishing = await seedAccount(rig(), owner.user, {
      folders: [
        { name: 'INBOX', count: 150, offset: 5500 },
        { name: 'Gone', count: 150, offset: 5700 },
      ],
    });
    const sink = await freshAccount('rej-vanish-dst');
    const state = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const args = [
      'copy',
      imapUrl(owner.user),
      imapUrl(sink.user),
      ...runOptions(state),
      '--include',
      'Gone',
      '--include',
      'INBOX',
      '--max-messages-per-second',
      '100',
      '--connections',
      '1',
    ];
    const env = { MAILFERRY_SOURCE_PASSWORD: owner.password, MAILFERRY_SINK_PASSWORD: sink.password };
    let deleted = false;
    const run = await runAndKill(args, env, () => {
      if (!deleted && doneCount(state) >= 160) {
        deleted = true;
        doveadm(rig(), ['mailbox', 'delete', '-u', owner.user, 'Gone']).catch(() => undefined);
      }
      return false;
    });
    expect(run.killed).toBe(false);
    expect(deleted).toBe(true);
    expect(run.result.code, run.result.stderr).toBe(1);
    const report = JSON.parse(run.result.stdout);
    expect(report.failed.length).toBeGreaterThan(0);
    expect(report.failed.every((f: { folder: string }) => f.folder === 'Gone')).toBe(true);
    expect(report.copied + report.failed.length).toBe(vanishing.length);
    const inbox = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    expect(countBy(inbox, (m) => m.sha256)).toEqual(
      countBy(
        vanishing.filter((m) => m.folder === 'INBOX'),
        (m) => m.sha256,
      ),
    );
  });
});
