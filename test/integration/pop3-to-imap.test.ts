import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, runOptions } from '../helpers/cli.js';
import { countBy, readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { mailboxStatus, setQuota } from '../rig/accounts.js';
import { doveadm } from '../rig/dovecot.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

/** The documented POP3 date rule, computed independently: newest Received, else Date. */
function expectedDate(raw: Buffer): Date | undefined {
  const head = raw
    .toString('latin1')
    .split(/\r?\n\r?\n/)[0]!
    .replace(/\r?\n[ \t]+/g, ' ');
  const received = head.split(/\r?\n/).find((l) => /^received:/i.test(l));
  const fromReceived = received?.includes(';')
    ? new Date(received.slice(received.lastIndexOf(';') + 1).trim())
    : undefined;
  if (fromReceived && !Number.isNaN(fromReceived.getTime())) return fromReceived;
  const date = head.split(/\r?\n/).find((l) => /^date:/i.test(l));
  const d = date ? new Date(date.slice(5).trim()) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d : undefined;
}

let pop: { user: string; password: string };
let seeded: SeededMessage[];

beforeAll(async () => {
  pop = await freshAccount('p2i-src');
  seeded = await seedAccount(rig(), pop.user, {
    folders: [{ name: 'INBOX', count: 1000 }],
    edgeCases: 'INBOX',
    big: [{ folder: 'INBOX', bytes: 21 * 1024 * 1024 }],
  });
}, 300_000);

function args(sinkUser: string, stateDir: string, extra: string[] = []): string[] {
  return [
    'copy',
    pop3Url(pop.user, { tls: 'pop3s' }),
    imapUrl(sinkUser, { tls: 'imaps' }),
    ...runOptions(stateDir),
    ...extra,
  ];
}

describe('POP3 → IMAP against the real Dovecot', () => {
  let sink: { user: string; password: string };
  let stateDir: string;
  const env = () => ({ MAILFERRY_SOURCE_PASSWORD: pop.password, MAILFERRY_SINK_PASSWORD: sink.password });

  it('copies every message exactly once, byte-exact, \\Seen, dated by the newest Received header', async () => {
    sink = await freshAccount('p2i-dst');
    stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const res = await runCli(args(sink.user, stateDir), env());
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.copied).toBe(seeded.length);
    expect(report.failed).toEqual([]);
    const got = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    expect(got).toHaveLength(seeded.length);
    expect(countBy(got, (m) => m.sha256)).toEqual(countBy(seeded, (m) => m.sha256));
    expect(got.every((m) => m.flags.includes('\\Seen'))).toBe(true);
    const byHash = new Map(got.map((m) => [m.sha256, m]));
    let dated = 0;
    for (const s of seeded) {
      const want = expectedDate(s.raw);
      if (!want) continue;
      dated++;
      expect(
        Math.abs(byHash.get(s.sha256)!.internalDate.getTime() - want.getTime()),
        s.messageId,
      ).toBeLessThan(1000);
    }
    expect(dated).toBeGreaterThan(seeded.length * 0.9);
    expect(got.some((m) => m.size > 20 * 1024 * 1024)).toBe(true);
  });

  it('a re-run copies 0 and reports them present; so does a run without the state directory', async () => {
    const again = await runCli(args(sink.user, stateDir), env());
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, alreadyPresent: seeded.length });
    rmSync(stateDir, { recursive: true, force: true });
    const fresh = await runCli(args(sink.user, stateDir), env());
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ copied: 0, alreadyPresent: seeded.length });
    const status = await mailboxStatus(rig(), sink.user);
    expect(status.find((s) => s.folder === 'INBOX')?.messages).toBe(seeded.length);
  });

  it('a re-run trusts the journal while the sink is untouched, and copies again what was removed there', async () => {
    const quiet = await runCli(args(sink.user, stateDir, ['--verbose']), env());
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(JSON.parse(quiet.stdout)).toMatchObject({ copied: 0, alreadyPresent: seeded.length });
    expect(quiet.stderr).toMatch(
      /INBOX: every message was copied before and the sink is as that run left it/,
    );
    // Someone deletes a copy at the sink: its STATUS changes, so the sink is read again.
    await doveadm(rig(), ['expunge', '-u', sink.user, 'mailbox', 'INBOX', 'uid', '7']);
    const again = await runCli(args(sink.user, stateDir, ['--verbose']), env());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/as that run left it/);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: 1, alreadyPresent: seeded.length - 1 });
    const status = await mailboxStatus(rig(), sink.user);
    expect(status.find((s) => s.folder === 'INBOX')?.messages).toBe(seeded.length);
  });

  it('plan shows what would be copied, with an estimate, and writes nothing', async () => {
    const target = await freshAccount('p2i-plan');
    const planned = await runCli(['plan', ...args(target.user, stateDir).slice(1)], {
      ...env(),
      MAILFERRY_SINK_PASSWORD: target.password,
    });
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout);
    expect(plan.totals.copy).toBe(seeded.length);
    expect((await mailboxStatus(rig(), target.user)).reduce((n, s) => n + s.messages, 0)).toBe(0);
    const human = await runCli(
      [
        'plan',
        ...args(target.user, stateDir)
          .slice(1)
          .filter((a) => a !== '--json'),
      ],
      { ...env(), MAILFERRY_SINK_PASSWORD: target.password },
    );
    expect(human.stdout).toMatch(/To copy: \d+ messages/);
    expect(human.stdout).toMatch(/Estimated time/);
  });
});

describe('POP3 → IMAP errors', () => {
  it('a wrong POP3 password exits 3 with one line, checkpoint untouched', async () => {
    const sink = await freshAccount('p2i-err');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const res = await runCli(args(sink.user, stateDir), {
      MAILFERRY_SOURCE_PASSWORD: 'nope-nope',
      MAILFERRY_SINK_PASSWORD: sink.password,
    });
    expect(res.code).toBe(3);
    expect(errorLines(res.stderr)).toHaveLength(1);
    expect(res.stderr).not.toContain('nope-nope');
  });

  it('an unreachable IMAP sink exits 3', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const res = await runCli(
      [
        'copy',
        pop3Url(pop.user, { tls: 'pop3s' }),
        'imap://nobody@127.0.0.1:1',
        '--ca-file',
        rig().caFile,
        '--state-dir',
        stateDir,
      ],
      { MAILFERRY_SOURCE_PASSWORD: pop.password, MAILFERRY_SINK_PASSWORD: 'x' },
    );
    expect(res.code).toBe(3);
    expect(errorLines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/refused/);
  });

  it('a full sink quota exits 4, keeps the checkpoint, and a re-run completes after the quota is raised', async () => {
    const sink = await freshAccount('p2i-quota');
    await setQuota(rig(), sink.user, '*:storage=3M');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: pop.password, MAILFERRY_SINK_PASSWORD: sink.password };
    const first = await runCli(args(sink.user, stateDir), env);
    expect(first.code, first.stderr).toBe(4);
    expect(first.stderr).toMatch(/quota/i);
    const journal = readFileSync(
      join(stateDir, (await import('node:fs')).readdirSync(stateDir)[0]!, 'journal.jsonl'),
      'utf8',
    );
    const done = journal.split('\n').filter((l) => l.includes('"t":"done"')).length;
    expect(done).toBeGreaterThan(0);
    await setQuota(rig(), sink.user, undefined);
    const second = await runCli(args(sink.user, stateDir), env);
    expect(second.code, second.stderr).toBe(0);
    const got = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    expect(countBy(got, (m) => m.sha256)).toEqual(countBy(seeded, (m) => m.sha256));
  });
});
