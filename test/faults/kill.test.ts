import { describe, it } from 'vitest';
import { doneCount, journalLines } from '../helpers/kill.js';
import { rig } from '../helpers/rig.js';
import {
  expectClean,
  type Fixture,
  PAIRS,
  prng,
  settle,
  setupPair,
  sinkUrl,
  sourceUrl,
  startCopy,
  until,
} from './scenarios.js';

/** Slow enough that every kill point falls inside the copy, with work left for the next run. */
const PACE = ['--max-messages-per-second', '40'];
const KILLS = 12;

type Point = { after: 'done'; n: number } | { after: 'ms'; n: number };

/** Every third point is a delay after the copy phase began, the others a count of journaled messages. */
function killPoints(seed: number): Point[] {
  const next = prng(seed);
  return Array.from({ length: KILLS }, (_, i) =>
    i % 3 === 2 ? { after: 'ms', n: next(0, 400) } : { after: 'done', n: next(2, 10) },
  );
}

/** A predicate for the run about to start: true once the point is reached. */
function reached(fx: Fixture, p: Point): () => boolean {
  const base = doneCount(fx.stateDir);
  const lines = journalLines(fx.stateDir).length;
  let copyStarted = 0;
  if (p.after === 'done') return () => doneCount(fx.stateDir) >= base + p.n;
  return () => {
    // The run's first journal line is written when planning is over and copying begins.
    if (!copyStarted && journalLines(fx.stateDir).length > lines) copyStarted = Date.now();
    return copyStarted > 0 && Date.now() - copyStarted >= p.n;
  };
}

// The pairs run side by side: each waits on its own journal, so they only share the CPU.
describe.concurrent.each(PAIRS.map((pair, i) => [pair, i] as const))('%s: kill -9', (pair, i) => {
  it(`at ${KILLS} seeded points, each followed by a resume; the last run completes`, async ({ expect }) => {
    const fx = await setupPair(rig(), pair, 900);
    const points = killPoints(0x5eed0 + i);
    let kills = 0;
    const started = Date.now();
    for (const p of points) {
      const run = startCopy(fx, sourceUrl(fx), sinkUrl(fx), { extra: PACE, deadlineMs: 60_000 });
      const hit = await until(reached(fx, p), run);
      if (hit && !run.finished()) run.child.kill('SIGKILL');
      const res = await run.done;
      if (res.signal === 'SIGKILL' && !res.hung) kills++;
    }
    const afterKills = doneCount(fx.stateDir);
    const final = await startCopy(fx, sourceUrl(fx), sinkUrl(fx)).done;
    const report = final.code === 0 ? (JSON.parse(final.stdout) as { copied: number }) : undefined;
    const at = points.map((p) => (p.after === 'done' ? `+${p.n}` : `${p.n}ms`)).join(' ');
    const row = await settle(fx, `kill -9 ×${KILLS} + resume`, final, {
      faulted: kills >= 10,
      notes: [
        `${kills} kills at ${at}`,
        `${afterKills} journaled before the last run, which copied ${report?.copied ?? '?'}`,
      ],
      seconds: (Date.now() - started) / 1000,
    });
    expect(kills).toBeGreaterThanOrEqual(10);
    expectClean(row, expect);
  }, 240_000);
});
