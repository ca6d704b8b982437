import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { type RedisInfo, redisAvailable, startRedis, stopRedis } from '../rig/redis.js';

const dovecot = servers().find((s) => s.kind === 'dovecot');
const cyrus = servers().find((s) => s.kind === 'cyrus');

interface Spawned {
  child: ChildProcess;
  log: string;
  done: Promise<unknown>;
}

function watch(child: ChildProcess): Spawned {
  const s: Spawned = { child, log: '', done: Promise.resolve() };
  child.stderr?.on('data', (d: Buffer) => {
    s.log += d.toString();
  });
  s.done = new Promise((resolve) => child.on('close', resolve));
  return s;
}

describe.skipIf(!dovecot || !cyrus || !redisAvailable())('batch over BullMQ: 3 workers on one Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-bredis-'));
  const proxies = new Map<ServerInfo, CountingProxy>();
  let pairs: FixturePair[] = [];
  let csv = '';
  let env: Record<string, string> = {};
  let redis: RedisInfo;
  const workers: Spawned[] = [];

  beforeAll(async () => {
    const d = dovecot!;
    const c = cyrus!;
    const specs = Array.from({ length: 12 }, (_, i) => ({
      from: d,
      to: i % 3 === 0 ? d : c,
      messages: 30 + i,
    }));
    pairs = await makePairs(specs, 'br');
    for (const s of [d, c]) proxies.set(s, await CountingProxy.start(s.ports.imaps));
    ({ csv, env } = writeAccountsCsv(pairs, { dir, portOf: (s) => proxies.get(s)!.port, envRefs: true }));
    redis = await startRedis();
  }, 300_000);

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    for (const p of proxies.values()) await p.close();
    await stopRedis(redis).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const ca = () => [dovecot!, cyrus!].flatMap((s) => ['--ca-file', s.caFile]);

  it('a worker killed with -9 mid-mailbox and a Redis restart: every pair completes, 0 lost, 0 duplicated', async () => {
    const startWorker = (i: number) => {
      // Slow enough (20 msg/s a pair) that the kill lands mid-mailbox.
      const args = ['worker', '--redis', redis.url, '--concurrency', '2', '--lock-duration', '3'];
      const w = watch(
        spawnCli(
          [...args, '--max-messages-per-second', '20', '--state-dir', join(dir, `w${i}`), ...ca()],
          env,
          true,
        ),
      );
      workers.push(w);
      return w;
    };
    for (let i = 0; i < 3; i++) startWorker(i);
    const batch = spawnCli(
      ['batch', '--redis', redis.url, csv, '--per-host', '4', '--connections', '1', '--lock-duration', '3'],
      env,
      true,
    );
    const batchDone = collect(batch);
    const victim = workers[0]!;
    while (!/worker: pair\d+: started/.test(victim.log)) await sleep(20);
    await sleep(700);
    const started = [...victim.log.matchAll(/worker: (pair\d+): started/g)].map((m) => m[1]!);
    const finished = new Set([...victim.log.matchAll(/worker: (pair\d+): (done|failed)/g)].map((m) => m[1]!));
    const cut = started.filter((p) => !finished.has(p));
    victim.child.kill('SIGKILL');
    expect(cut.length, 'the killed worker was mid-mailbox').toBeGreaterThan(0);

    // Let the others get going, then crash Redis (nothing saved) and bring it back on its port.
    while (!workers.slice(1).some((w) => /: done/.test(w.log))) await sleep(50);
    await stopRedis(redis, { keepDir: true });
    await sleep(300);
    redis = await startRedis(redis.port, redis.dir);

    const result = await batchDone;
    expect(result.code, `${result.stderr}\n${workers.map((w) => w.log).join('\n')}`).toBe(0);
    // Each pair the dead worker held was finished by a live one.
    for (const p of cut)
      expect(workers.slice(1).some((w) => w.log.includes(`worker: ${p}: done`))).toBe(true);
    console.info(
      `batch-redis: killed mid ${cut.join(', ')}; peak connections ${[...proxies].map(([s, p]) => `${s.kind} ${p.peak}`).join(', ')}`,
    );
    expect(await exactlyOnceProblems(pairs)).toEqual([]);
    for (const [s, p] of proxies)
      expect(p.peak, `${s.kind}: most connections at once`).toBeLessThanOrEqual(4);
  }, 600_000);
});
