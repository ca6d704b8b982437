import { describe, type ExpectStatic, it, type OnTestFinishedHandler } from 'vitest';
import { doneCount } from '../helpers/kill.js';
import { rig } from '../helpers/rig.js';
import {
  expectClean,
  logCount,
  PAIRS,
  type PairId,
  route,
  settle,
  setupPair,
  sinkUrl,
  startCopy,
  until,
} from './scenarios.js';

const STALL_MS = 30_000;
const PACE = ['--max-messages-per-second', '100'];
const RETRIES = /^retrying after/;

/**
 * Stall every source connection for 30 s once 20 messages are done. With the default 60 s
 * timeout the run just waits; with --timeout 10 its reads time out, it reconnects (new
 * connections stall too until the 30 s are over) and carries on.
 */
async function stalled(
  pair: PairId,
  timeoutS: number | undefined,
  expect: ExpectStatic,
  onFinished: (fn: OnTestFinishedHandler) => void,
): Promise<void> {
  const fx = await setupPair(rig(), pair, timeoutS ? 1100 : 1300);
  const src = await route(fx, 'source', 'tls', onFinished);
  const extra = [...PACE, ...(timeoutS ? ['--timeout', String(timeoutS)] : [])];
  const run = startCopy(fx, src.url, sinkUrl(fx), { extra, deadlineMs: 120_000 });
  const midway = await until(() => doneCount(fx.stateDir) >= 20, run);
  const doneAtStall = doneCount(fx.stateDir);
  const stallEnded = src.proxy.stall(STALL_MS).then(() => run.finished());
  const res = await run.done;
  // The fault counts only if the run was still going when the stall was over.
  const outlived = midway && (await stallEnded) === false;
  const retries = logCount(fx, RETRIES);
  const row = await settle(
    fx,
    `stall 30 s (${timeoutS ? `--timeout ${timeoutS}` : 'default timeout 60 s'})`,
    res,
    {
      faulted: outlived && (!timeoutS || retries > 0),
      notes: [
        `stalled at ${doneAtStall} done`,
        `${retries} retries`,
        `${src.proxy.stats().connections} connections`,
      ],
    },
  );
  expectClean(row, expect);
  // With the default timeout nothing times out; a 10 s timeout must have fired and been retried.
  if (timeoutS) expect(retries).toBeGreaterThan(0);
  else expect(retries).toBe(0);
}

describe.concurrent.each(PAIRS)('%s: 30-second stall on the source', (pair) => {
  it('completes with the default timeout (waits) and with --timeout 10 (reconnects)', async ({
    expect,
    onTestFinished,
  }) => {
    const runs = await Promise.allSettled([
      stalled(pair, undefined, expect, onTestFinished),
      stalled(pair, 10, expect, onTestFinished),
    ]);
    for (const r of runs) if (r.status === 'rejected') throw r.reason;
  }, 200_000);
});
