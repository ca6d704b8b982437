import { setTimeout as sleep } from 'node:timers/promises';
import { describe, type ExpectStatic, it, type OnTestFinishedHandler } from 'vitest';
import { doneCount } from '../helpers/kill.js';
import { type RigInfo, restartRig, startRig, stopRig } from '../rig/dovecot.js';
import { instancePids } from '../rig/procs.js';
import {
  expectClean,
  logCount,
  PAIRS,
  type PairId,
  settle,
  setupPair,
  sinkUrl,
  sourceUrl,
  startCopy,
  until,
} from './scenarios.js';

const PACE = ['--max-messages-per-second', '30'];

/**
 * A restart that drops the clients, as shutdown_clients promises: here a SIGTERM to the master
 * alone leaves running sessions to finish, so every process of the instance gets one.
 */
async function restartDroppingClients(rig: RigInfo, downMs = 0): Promise<void> {
  for (const pid of instancePids(rig.instance, rig.configFile)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  if (downMs) await sleep(downMs);
  await restartRig(rig);
}

/**
 * Each scenario restarts a private Dovecot of its own (the shared rig must never restart under
 * other tests), so the scenarios can run side by side.
 */
async function restartScenario(
  pair: PairId,
  downMs: number,
  expect: ExpectStatic,
  onFinished: (fn: OnTestFinishedHandler) => void,
): Promise<void> {
  const own = await startRig();
  onFinished(() => stopRig(own));
  const fx = await setupPair(own, pair, downMs ? 2300 : 1900);
  const run = startCopy(fx, sourceUrl(fx), sinkUrl(fx), { extra: PACE, deadlineMs: 45_000 });
  const midway = await until(() => doneCount(fx.stateDir) >= 30, run);
  const pid = own.pid;
  const doneAtRestart = doneCount(fx.stateDir);
  const t0 = Date.now();
  await restartDroppingClients(own, downMs);
  const tookMs = Date.now() - t0;
  const restarted = midway && own.pid !== pid && !run.finished();
  const res = await run.done;
  const row = await settle(fx, `Dovecot restart${downMs ? `, down ${downMs / 1000} s` : ''}`, res, {
    faulted: restarted,
    notes: [
      `restart took ${tookMs} ms at ${doneAtRestart} done`,
      `${logCount(fx, /^retrying after/)} retries`,
    ],
  });
  expectClean(row, expect);
}

describe.concurrent.each(PAIRS)('%s: Dovecot restarts mid-run', (pair) => {
  it('at once: the run reconnects and completes', async ({ expect, onTestFinished }) => {
    await restartScenario(pair, 0, expect, onTestFinished);
  }, 120_000);
  // The server pairs only: for zip and mbox the source side is the same as IMAP→IMAP's.
  it.runIf(pair === 'imap-imap' || pair === 'pop3-imap')(
    'down for 2 s: the run keeps retrying, reconnects and completes',
    async ({ expect, onTestFinished }) => {
      await restartScenario(pair, 2000, expect, onTestFinished);
    },
    120_000,
  );
});
