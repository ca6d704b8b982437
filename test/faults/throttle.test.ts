import { describe, expect, it } from 'vitest';
import { doneCount } from '../helpers/kill.js';
import { rig } from '../helpers/rig.js';
import {
  expectClean,
  type Fixture,
  logCount,
  type Route,
  type RunResult,
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
const BACKOFF = /^mailferry: warn: server is throttling/;

function backoffLines(res: RunResult): number {
  return res.stderr.split('\n').filter((l) => BACKOFF.test(l)).length;
}

/** Alternates between the given answers, in the command's own tag for IMAP. */
function rotating(answers: string[], imap: boolean): (line: string) => string {
  let i = 0;
  return (line) => {
    const a = answers[i++ % answers.length]!;
    return imap ? `${tagOf(line)} ${a}` : a;
  };
}

interface Injection {
  fault: string;
  side: 'source' | 'sink';
  /** Installs the fault once 20 messages are done; returns how many times it was served. */
  inject: (r: Route) => () => number;
}

async function throttled(fx: Fixture, how: Injection): Promise<void> {
  const r = await route(fx, how.side, 'plain');
  const [src, dst] = how.side === 'source' ? [r.url, sinkUrl(fx)] : [sourceUrl(fx), r.url];
  const run = startCopy(fx, src, dst, { extra: PACE });
  const midway = await until(() => doneCount(fx.stateDir) >= 20, run);
  const served = how.inject(r);
  const res = await run.done;
  const lines = backoffLines(res);
  const row = await settle(fx, how.fault, res, {
    faulted: midway && served() > 0,
    notes: [
      `answered ${served()} time(s)`,
      `${lines} back-off line(s) on stderr`,
      `${logCount(fx, /^retrying after/)} other retries`,
    ],
  });
  expectClean(row);
  // Backing off is the point: each refusal shows up as a back-off line (a refused POP3 login
  // fails every worker waiting for the shared session, each with its own line).
  expect(lines, row.detail).toBeGreaterThanOrEqual(served());
}

const appendThrottled: Injection = {
  fault: 'APPEND NO [THROTTLED] ×3 (sink)',
  side: 'sink',
  inject: ({ proxy }) => {
    const reply = 'NO [THROTTLED] Request is throttled. Suggested Backoff Time: 300 milliseconds';
    const rule = proxy.answerCommand(/^\S+ APPEND /i, rotating([reply], true), 3);
    return () => rule.hits;
  },
};

/** A fetch of whole bodies (batched); the inventory asks only for the Message-ID header. */
const BODY_FETCH = /^\S+ UID FETCH [\d:,]+ \(.*BODY\.PEEK\[\]/i;

const fetchUnavailable: Injection = {
  fault: 'FETCH NO [UNAVAILABLE] ×2 (source)',
  side: 'source',
  inject: ({ proxy }) => {
    const rule = proxy.answerCommand(BODY_FETCH, rotating(['NO [UNAVAILABLE] Try again later'], true), 2);
    return () => rule.hits;
  },
};

const fetchLimit: Injection = {
  fault: 'FETCH NO [LIMIT] (Gmail) ×2 (source)',
  side: 'source',
  inject: ({ proxy }) => {
    const gmail = 'NO [LIMIT] Account exceeded command or bandwidth limits';
    const rule = proxy.answerCommand(BODY_FETCH, rotating([gmail], true), 2);
    return () => rule.hits;
  },
};

/** The connection drops; the next two logins are refused as temporary, then one succeeds. */
const pop3LoginRefused: Injection = {
  fault: 'POP3 login -ERR [IN-USE]/[SYS/TEMP] ×2',
  side: 'source',
  inject: ({ proxy }) => {
    const replies = [
      '-ERR [IN-USE] Mailbox is locked by another POP3 session',
      '-ERR [SYS/TEMP] Temporary authentication failure',
    ];
    const rule = proxy.answerCommand(/^(AUTH |USER |APOP )/i, rotating(replies, false), 2);
    proxy.drop();
    return () => rule.hits;
  },
};

describe('throttling and temporary refusals', () => {
  it('IMAP→IMAP: APPEND throttled', async () => {
    await throttled(await setupPair(rig(), 'imap-imap', 1500), appendThrottled);
  });
  it('POP3→IMAP: APPEND throttled', async () => {
    await throttled(await setupPair(rig(), 'pop3-imap', 1500), appendThrottled);
  });
  it('IMAP→IMAP: FETCH over the limit (Gmail)', async () => {
    await throttled(await setupPair(rig(), 'imap-imap', 1700), fetchLimit);
  });
  it('IMAP→mbox: FETCH over the limit (Gmail)', async () => {
    await throttled(await setupPair(rig(), 'imap-mbox', 1700), fetchLimit);
  });
  // imapflow leaves the [UNAVAILABLE] code of a FETCH error in the parsed response only.
  it('IMAP→IMAP: FETCH temporarily unavailable', async () => {
    await throttled(await setupPair(rig(), 'imap-imap', 1900), fetchUnavailable);
  });
  it('IMAP→zip: FETCH temporarily unavailable', async () => {
    await throttled(await setupPair(rig(), 'imap-zip', 1900), fetchUnavailable);
  });
  it('POP3→IMAP: login refused as in use / temporary after a reconnect', async () => {
    await throttled(await setupPair(rig(), 'pop3-imap', 1700), pop3LoginRefused);
  });
});
