import { describe, expect, it } from 'vitest';
import { parseAccounts } from '../../src/batch/accounts.js';
import { emptyResult, type PairResult, type runPair } from '../../src/batch/pair.js';
import { BatchRunner } from '../../src/batch/runner.js';

const csv = (n: number) =>
  `source,sink\n${Array.from({ length: n }, (_, i) => `imaps://u${i}@src,imaps://v${i}@dst${i % 2}`).join('\n')}\n`;

type RunOne = typeof runPair;

function runner(
  n: number,
  runOne: RunOne,
  o: { jobs?: number; perHost?: number; quotaRetries?: number } = {},
) {
  return new BatchRunner(parseAccounts(csv(n)), {
    jobs: o.jobs ?? 8,
    perHost: o.perHost ?? 4,
    pair: { base: {}, connections: 1, verify: false },
    quotaWaitMs: 5,
    quotaRetries: o.quotaRetries ?? 2,
    signal: new AbortController().signal,
    runOne,
  });
}

describe('BatchRunner', () => {
  it('never runs more than --jobs pairs or --per-host connections on one server', async () => {
    let running = 0;
    let most = 0;
    const r = runner(20, async (a) => {
      running++;
      most = Math.max(most, running);
      await new Promise((res) => setTimeout(res, 3));
      running--;
      return { ...emptyResult(a), state: 'done' as const };
    });
    const results = await r.run();
    expect(results.every((x) => x.state === 'done')).toBe(true);
    // Every pair reads from 'src': four at once, though --jobs allows eight.
    expect(most).toBe(4);
    expect(r.limiter.peak.get('src:993')).toBe(4);
  });

  it('waits out a quota stop and tries again; a refused login is reported, the rest go on', async () => {
    const tries = new Map<string, number>();
    const r = runner(3, async (a) => {
      const n = (tries.get(a.id) ?? 0) + 1;
      tries.set(a.id, n);
      const res: PairResult = emptyResult(a);
      if (a.source.includes('u0'))
        return { ...res, exitCode: n < 3 ? 4 : 0, state: n < 3 ? 'quota' : 'done' };
      if (a.source.includes('u1')) return { ...res, exitCode: 3, state: 'unreachable', message: 'EAUTH' };
      return { ...res, state: 'done' };
    });
    const [q, auth, ok] = await r.run();
    expect(q).toMatchObject({ state: 'done', attempts: 3 });
    expect(auth).toMatchObject({ state: 'unreachable', attempts: 1, message: 'EAUTH' });
    expect(ok!.state).toBe('done');
  });

  it('gives up after --quota-retries', async () => {
    const r = runner(1, async (a) => ({ ...emptyResult(a), exitCode: 4, state: 'quota' }), {
      quotaRetries: 1,
    });
    const [q] = await r.run();
    expect(q).toMatchObject({ state: 'quota', attempts: 2 });
  });
});
