import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, runOptions } from '../helpers/cli.js';
import { doneCount, journalLines, runAndKill } from '../helpers/kill.js';
import { countBy, readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { mailboxStatus } from '../rig/accounts.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

const N = 300;

async function seededPop(
  prefix: string,
): Promise<{ user: string; password: string; seeded: SeededMessage[] }> {
  const acc = await freshAccount(prefix);
  const seeded = await seedAccount(rig(), acc.user, {
    folders: [{ name: 'INBOX', count: N, offset: 2000 }],
    edgeCases: 'INBOX',
  });
  return { ...acc, seeded };
}

function copyArgs(popUser: string, sinkUser: string, stateDir: string, extra: string[] = []): string[] {
  return [
    'copy',
    pop3Url(popUser, { tls: 'pop3' }),
    imapUrl(sinkUser, { tls: 'imap' }),
    ...runOptions(stateDir),
    ...extra,
  ];
}

describe('POP3 → IMAP survives SIGKILL', () => {
  let pop: Awaited<ReturnType<typeof seededPop>>;
  beforeAll(async () => {
    pop = await seededPop('crash-src');
  });

  it('killed at three points, then resumed: every message exactly once', async () => {
    const sink = await freshAccount('crash-dst');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: pop.password, MAILFERRY_SINK_PASSWORD: sink.password };
    // Throttled so each kill point is reached mid-transfer, not after it.
    const slow = ['--max-messages-per-second', '150'];
    let kills = 0;
    for (const at of [20, 120, 230]) {
      const r = await runAndKill(
        copyArgs(pop.user, sink.user, stateDir, slow),
        env,
        () => doneCount(stateDir) >= at,
      );
      if (r.killed) kills++;
    }
    expect(kills).toBe(3);
    const final = await runCli(copyArgs(pop.user, sink.user, stateDir), env);
    expect(final.code, final.stderr).toBe(0);
    const got = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    expect(got).toHaveLength(pop.seeded.length);
    expect(countBy(got, (m) => m.sha256)).toEqual(countBy(pop.seeded, (m) => m.sha256));
    const again = await runCli(copyArgs(pop.user, sink.user, stateDir), env);
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0 });
  });
});

describe('--delete-source', () => {
  it('empties the POP3 mailbox only after every copy is confirmed', async () => {
    const pop = await seededPop('del-src');
    const sink = await freshAccount('del-dst');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: pop.password, MAILFERRY_SINK_PASSWORD: sink.password };
    const res = await runCli(copyArgs(pop.user, sink.user, stateDir, ['--delete-source']), env);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ copied: pop.seeded.length, deleted: pop.seeded.length });
    expect((await mailboxStatus(rig(), pop.user)).find((s) => s.folder === 'INBOX')?.messages).toBe(0);
    const got = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    expect(countBy(got, (m) => m.sha256)).toEqual(countBy(pop.seeded, (m) => m.sha256));
    // Deletion came after the last copy was journaled.
    const lines = journalLines(stateDir);
    const lastDone = lines.map((l) => l.includes('"t":"done"')).lastIndexOf(true);
    const deleted = lines.findIndex((l) => l.includes('"t":"deleted"'));
    expect(deleted).toBeGreaterThan(lastDone);
  });

  it('a kill around the deletion phase, then a re-run, loses nothing', async () => {
    const pop = await seededPop('del2-src');
    const sink = await freshAccount('del2-dst');
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: pop.password, MAILFERRY_SINK_PASSWORD: sink.password };
    const total = pop.seeded.length;
    const r = await runAndKill(
      copyArgs(pop.user, sink.user, stateDir, ['--delete-source']),
      env,
      () => doneCount(stateDir) >= total,
    );
    expect(r.killed).toBe(true);
    const popLeft = (await mailboxStatus(rig(), pop.user)).find((s) => s.folder === 'INBOX')?.messages ?? 0;
    const inSink = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    // Whatever the kill interrupted, each message is at the source or the sink (or both).
    expect(popLeft + inSink.length).toBeGreaterThanOrEqual(total);
    const again = await runCli(copyArgs(pop.user, sink.user, stateDir, ['--delete-source']), env);
    expect(again.code, again.stderr).toBe(0);
    expect((await mailboxStatus(rig(), pop.user)).find((s) => s.folder === 'INBOX')?.messages).toBe(0);
    const got = (await readAccount(sink.user, sink.password)).get('INBOX') ?? [];
    expect(countBy(got, (m) => m.sha256)).toEqual(countBy(pop.seeded, (m) => m.sha256));
  });
});
