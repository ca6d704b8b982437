import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { status } from '../../src/commands/status.js';
import { type CliResult, collect, errorLines, runCli, runOptions, spawnCli } from '../helpers/cli.js';
import { doneCount } from '../helpers/kill.js';
import { countBy, readAccount, signature } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

/**
 * Two real `copy` processes on one pair: the second is refused (exit 2, one line naming the
 * first's pid) and the first finishes intact; a kill -9 leaves a stale lock the next run takes.
 */

const COUNT = 40;
/** Slow enough that the first run is still copying when the second starts. */
const PACE = ['--max-messages-per-second', '25'];

let src: { user: string; password: string };
let seeded: SeededMessage[];

beforeAll(async () => {
  src = await freshAccount('lock-src');
  seeded = await seedAccount(rig(), src.user, { folders: [{ name: 'INBOX', count: COUNT, offset: 5960 }] });
}, 120_000);

function pairLock(stateDir: string): string | undefined {
  if (!existsSync(stateDir)) return undefined;
  for (const d of readdirSync(stateDir)) {
    const f = join(stateDir, d, 'lock');
    if (existsSync(f)) return f;
  }
  return undefined;
}

async function until(cond: () => boolean, run: Promise<unknown>): Promise<void> {
  let over = false;
  void run.then(() => {
    over = true;
  });
  while (!cond()) {
    if (over) throw new Error('the first run ended before the condition held');
    await sleep(10);
  }
}

type Sink = { url: string; env: Record<string, string>; check: () => Promise<void> };

async function mboxSink(): Promise<Sink> {
  const url = `mbox:${join(mkdtempSync(join(tmpdir(), 'mf-lock-mbox-')), 'out')}`;
  const env = { MAILFERRY_SOURCE_PASSWORD: src.password };
  return {
    url,
    env,
    check: async () => {
      const v = await runCli(
        ['verify', imapUrl(src.user), url, ...runOptions(mkdtempSync(join(tmpdir(), 'mf-v-')))],
        env,
        true,
      );
      expect(v.code, v.stdout + v.stderr).toBe(0);
      const folders = (JSON.parse(v.stdout) as { folders: Array<{ compared: number }> }).folders;
      expect(folders.reduce((n, f) => n + f.compared, 0)).toBe(COUNT);
    },
  };
}

async function imapSink(): Promise<Sink> {
  const dst = await freshAccount('lock-dst');
  return {
    url: imapUrl(dst.user),
    env: { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: dst.password },
    check: async () => {
      const got = await readAccount(dst.user, dst.password);
      const want = countBy(seeded, (m) => m.sha256);
      expect(countBy(got.get('INBOX') ?? [], (m) => m.sha256)).toEqual(want);
      expect(countBy(got.get('INBOX') ?? [], signature).size).toBe(COUNT);
    },
  };
}

describe.each([
  ['Dovecot → mbox', mboxSink],
  ['Dovecot → Dovecot', imapSink],
] as const)('%s: one run at a time', (_name, makeSink) => {
  it('a second copy on the pair exits 2 naming the first; the first finishes intact', async () => {
    const sink = await makeSink();
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-lock-st-'));
    const args = ['copy', imapUrl(src.user), sink.url, ...runOptions(stateDir)];
    const child = spawnCli([...args, ...PACE], sink.env, true);
    const first = collect(child);
    // Locked and copying: the journal has its first done line.
    await until(() => doneCount(stateDir) > 0, first);
    expect(status(stateDir)).toEqual([expect.objectContaining({ state: 'running', pid: child.pid })]);
    const second = await runCli(args, sink.env, true);
    expect(second.code, second.stderr).toBe(2);
    expect(errorLines(second.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailferry: copy: this pair \\(its state directory\\) is in use by mailferry pid ${child.pid} on .+ since \\S+ \\(wait for that run to finish; if it is gone, remove .+\\)$`,
        ),
      ),
    ]);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    const res: CliResult = await first;
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ copied: COUNT, failed: [] });
    expect(pairLock(stateDir)).toBeUndefined();
    expect(status(stateDir)).toEqual([expect.objectContaining({ state: 'finished' })]);
    await sink.check();
  }, 120_000);

  it('a kill -9 leaves a stale lock that the next run takes over with a note', async () => {
    const sink = await makeSink();
    const stateDir = mkdtempSync(join(tmpdir(), 'mf-lock-st-'));
    const args = ['copy', imapUrl(src.user), sink.url, ...runOptions(stateDir)];
    const child = spawnCli([...args, ...PACE], sink.env, true);
    const first = collect(child);
    await until(() => doneCount(stateDir) >= 5, first);
    child.kill('SIGKILL');
    expect((await first).signal).toBe('SIGKILL');
    const lock = pairLock(stateDir);
    expect(lock && JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(child.pid);
    // The lock names a process that is gone: the pair is interrupted, not running.
    expect(status(stateDir)).toEqual([expect.objectContaining({ state: 'interrupted' })]);
    const next = await runCli(args, sink.env, true);
    expect(next.code, next.stderr).toBe(0);
    expect(errorLines(next.stderr)).toContainEqual(
      expect.stringContaining(
        `warn: took over a stale lock on this pair (its state directory): mailferry pid ${child.pid} on `,
      ),
    );
    expect(pairLock(stateDir)).toBeUndefined();
    await sink.check();
  }, 120_000);
});

describe('one run at a time per archive', () => {
  it('a second pair writing the same mbox directory exits 2 naming the archive', async () => {
    const sink = await mboxSink();
    const args = (st: string) => ['copy', imapUrl(src.user), sink.url, ...runOptions(st)];
    const stateA = mkdtempSync(join(tmpdir(), 'mf-lock-st-'));
    const child = spawnCli([...args(stateA), ...PACE], sink.env, true);
    const first = collect(child);
    await until(() => doneCount(stateA) > 0, first);
    // Another state directory: another pair lock, the same archive.
    const second = await runCli(args(mkdtempSync(join(tmpdir(), 'mf-lock-st-'))), sink.env, true);
    expect(second.code, second.stderr).toBe(2);
    expect(errorLines(second.stderr)).toEqual([
      expect.stringContaining(
        `mailferry: copy: the archive ${sink.url} is in use by mailferry pid ${child.pid} on `,
      ),
    ]);
    const res = await first;
    expect(res.code, res.stderr).toBe(0);
    await sink.check();
  }, 120_000);
});
