import { describe, expect, it } from 'vitest';
import { doneCount } from '../helpers/kill.js';
import { rig } from '../helpers/rig.js';
import {
  expectClean,
  route,
  settle,
  setupPair,
  sinkUrl,
  sourceUrl,
  startCopy,
  tagOf,
  until,
} from './scenarios.js';

const PACE = ['--max-messages-per-second', '100'];
/** What Gmail answers once the day's IMAP upload budget is spent. */
const GMAIL_DAILY = 'NO [OVERQUOTA] Account exceeded command or bandwidth limits. (Failure)';

describe("Gmail's daily upload limit", () => {
  it('IMAP→IMAP: stops with exit 4 and the time to resume; the re-run finishes, none lost or twice', async () => {
    const fx = await setupPair(rig(), 'imap-imap', 1900);
    const r = await route(fx, 'sink', 'plain');
    const run = startCopy(fx, sourceUrl(fx), r.url, { extra: PACE });
    const midway = await until(() => doneCount(fx.stateDir) >= 20, run);
    const rule = r.proxy.answerCommand(/^\S+ APPEND /i, (line) => `${tagOf(line)} ${GMAIL_DAILY}`, 1e9);
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(4);
    const last =
      stopped.stderr
        .split('\n')
        .filter((l) => l.startsWith('mailferry:'))
        .at(-1) ?? '';
    expect(last).toMatch(/for the day/);
    const at = /run the same command again after (\S+Z) to resume/.exec(last)?.[1];
    expect(at, last).toBeDefined();
    expect(new Date(at!).getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const stored = doneCount(fx.stateDir);
    expect(stored).toBeGreaterThanOrEqual(20);
    // The day later: the same command, straight to the server, resumes from the journal.
    const resumed = await startCopy(fx, sourceUrl(fx), sinkUrl(fx)).done;
    const row = await settle(fx, 'APPEND NO [OVERQUOTA] daily limit (Gmail), then resume', resumed, {
      faulted: midway && rule.hits > 0,
      notes: [`stopped after ${stored} stored, exit ${stopped.code}`, `answered ${rule.hits} time(s)`],
    });
    expectClean(row);
  });
});
