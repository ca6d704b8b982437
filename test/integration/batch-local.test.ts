import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exactlyOnceProblems,
  type FixturePair,
  makePairs,
  writeAccountsCsv,
} from '../helpers/batch-fixture.js';
import { collect, spawnCli } from '../helpers/cli.js';
import { CountingProxy } from '../helpers/counting-proxy.js';
import { type ServerInfo, servers } from '../helpers/servers.js';

const dovecot = servers().find((s) => s.kind === 'dovecot');
const cyrus = servers().find((s) => s.kind === 'cyrus');

/** Journal 'done' lines over every pair's state directory: how far the batch got. */
function doneLines(stateDir: string): number {
  let n = 0;
  if (!existsSync(stateDir)) return 0;
  for (const d of readdirSync(stateDir, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    try {
      const text = readFileSync(join(stateDir, d.name, 'journal.jsonl'), 'utf8');
      n += text.split('\n').filter((l) => l.includes('"t":"done"')).length;
    } catch {
      // a pair not started yet
    }
  }
  return n;
}

describe.skipIf(!dovecot || !cyrus)('mailferry batch: 50 pairs on Dovecot and Cyrus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-batch-'));
  const stateDir = join(dir, 'state');
  const proxies = new Map<ServerInfo, CountingProxy>();
  let pairs: FixturePair[] = [];
  let csv = '';
  let env: Record<string, string> = {};

  beforeAll(async () => {
    const d = dovecot!;
    const c = cyrus!;
    // 30 Dovecot->Cyrus, 10 Cyrus->Dovecot, 10 Dovecot->Dovecot, 20-40 messages each.
    const specs = Array.from({ length: 50 }, (_, i) => ({
      from: i >= 30 && i < 40 ? c : d,
      to: i < 30 ? c : d,
      messages: 20 + ((i * 7) % 21),
    }));
    pairs = await makePairs(specs, 'bl');
    for (const s of [d, c]) proxies.set(s, await CountingProxy.start(s.ports.imaps));
    ({ csv, env } = writeAccountsCsv(pairs, { dir, portOf: (s) => proxies.get(s)!.port, envRefs: true }));
  }, 600_000);

  afterAll(async () => {
    for (const p of proxies.values()) await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const args = () => [
    'batch',
    csv,
    '--jobs',
    '8',
    '--per-host',
    '4',
    '--connections',
    '1',
    '--verify',
    '--json',
    '--progress',
    'log',
    '--state-dir',
    stateDir,
    '--report-dir',
    join(dir, 'report'),
    ...[dovecot!, cyrus!].flatMap((s) => ['--ca-file', s.caFile]),
  ];

  it('kill -9 midway, then a re-run: every account complete and verified, the per-host cap held at the servers', async () => {
    const total = pairs.reduce((n, p) => n + [...p.expected.values()].flat().length, 0);
    const first = spawnCli(args(), env, true);
    const firstDone = collect(first);
    let ended = false;
    void firstDone.then(() => {
      ended = true;
    });
    while (!ended && doneLines(stateDir) < total / 3) await sleep(20);
    expect(ended, 'the first run ended before it could be killed').toBe(false);
    first.kill('SIGKILL');
    const killed = await firstDone;
    expect(killed.signal).toBe('SIGKILL');
    const partly = doneLines(stateDir);
    expect(partly).toBeLessThan(total);

    const second = await collect(spawnCli(args(), env, true));
    expect(second.code, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout) as {
      totals: { accounts: number; done: number };
      accounts: Array<{ state: string; verified?: boolean }>;
    };
    expect(report.totals).toMatchObject({ accounts: 50, done: 50 });
    expect(report.accounts.every((a) => a.state === 'done' && a.verified === true)).toBe(true);

    console.info(
      `batch-local: killed after ${partly}/${total} messages; peak connections ${[...proxies].map(([s, p]) => `${s.kind} ${p.peak}`).join(', ')}`,
    );
    expect(await exactlyOnceProblems(pairs)).toEqual([]);
    for (const [s, p] of proxies) {
      expect(p.peak, `${s.kind}: most connections at once`).toBeLessThanOrEqual(4);
      expect(p.peak, `${s.kind}: pairs ran side by side`).toBeGreaterThanOrEqual(2);
    }
    // The report files: JSON, CSV (a line per account) and a self-contained HTML page.
    const reportDir = join(dir, 'report');
    expect(readFileSync(join(reportDir, 'report.csv'), 'utf8').trim().split('\r\n')).toHaveLength(51);
    const html = readFileSync(join(reportDir, 'report.html'), 'utf8');
    expect(html).toContain('50/50');
    expect(html).not.toMatch(/<script|<link|src="http/);
    for (const p of pairs)
      expect(readFileSync(join(reportDir, 'report.json'), 'utf8')).not.toContain(p.sink.password);
  }, 900_000);
});
