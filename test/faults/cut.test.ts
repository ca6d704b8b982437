import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { doneCount } from '../helpers/kill.js';
import { rig } from '../helpers/rig.js';
import type { FaultProxy } from './proxy.js';
import {
  expectClean,
  type Fixture,
  logCount,
  PAIRS,
  type PairId,
  prng,
  route,
  settle,
  setupPair,
  sinkUrl,
  sourceUrl,
  startCopy,
  until,
} from './scenarios.js';

/** Paced so that faults land mid-transfer, with plenty still to copy. */
const PACE = ['--max-messages-per-second', '100'];
const RETRIES = /^retrying after/;
const IMAP_SINKS = PAIRS.filter((p) => p === 'imap-imap' || p === 'pop3-imap');

/** The reply line that starts a message body: IMAP FETCH literal, POP3 RETR. */
function bodyStart(pair: PairId): RegExp {
  return pair === 'pop3-imap' ? /^\+OK (\d+) octets/ : /BODY\[\] \{(\d+)\}$/;
}

/** Dovecot's log lines saying a session of `user` ended with an APPEND literal part-way in. */
function midLiteralDisconnects(user: string): string[] {
  const log = readFileSync(rig().logFile, 'utf8');
  return log.split('\n').filter((l) => {
    const m = /While APPENDing: \d+ msgs, \d+ secs, (\d+)\/(\d+) bytes/.exec(l);
    return l.includes(`(${user})`) && m && Number(m[1]) > 0 && Number(m[1]) < Number(m[2]);
  });
}

describe.each(PAIRS)('%s: source connection', (pair) => {
  it('cut in the middle of a message body', async () => {
    const fx = await setupPair(rig(), pair, 300);
    // Plain text, so the proxy sees where a body starts (the wire is unchanged otherwise).
    const src = await route(fx, 'source', 'plain');
    let cutAt = '';
    const run = startCopy(fx, src.url, sinkUrl(fx), { extra: PACE });
    const midway = await until(() => doneCount(fx.stateDir) >= 20, run);
    const start = bodyStart(pair);
    src.proxy.replaceReply(
      start,
      (line) => {
        const size = Number(start.exec(line)![1]);
        const half = Math.floor(size / 2);
        cutAt = `cut at byte ${half} of a ${size}-byte body`;
        // The client gets this line and half the body, then a FIN.
        src.proxy.cutAfter(line.length + 2 + half, 'down', 'each');
        return line;
      },
      1,
    );
    await until(() => src.proxy.stats().cut > 0, run);
    // Connections opened after the cut are not cut again.
    src.proxy.cutAfter(Number.POSITIVE_INFINITY, 'down', 'each');
    const res = await run.done;
    const cuts = src.proxy.stats().cut;
    const row = await settle(fx, 'cut mid-body (source)', res, {
      faulted: midway && cuts > 0,
      notes: [cutAt, `${cuts} connection(s) cut`, `${logCount(fx, RETRIES)} retries`],
    });
    expectClean(row);
  });
});

describe.each(IMAP_SINKS)('%s: idle source connection', (pair) => {
  // POP3: the workers sharing the idle session all find it closed at once; they must share one
  // reconnect (each opening its own once left connections open and the process running).
  it('dropped while idle, then reconnected over a slow network', async () => {
    const fx = await setupPair(rig(), pair, 2100, 40);
    const src = await route(fx, 'source', 'tls');
    // Two a second, evenly spread: the sessions sit idle for about 500 ms between messages.
    const extra = ['--max-messages-per-second', '2'];
    const run = startCopy(fx, src.url, sinkUrl(fx), { extra, deadlineMs: 40_000 });
    const midway = await until(() => doneCount(fx.stateDir) >= 10, run);
    const idle = await until(quiet(fx, src.proxy, 300), run, 5000);
    const before = src.proxy.stats().connections;
    // Every chunk 150 ms late: a TLS login takes seconds, so reconnects overlap.
    src.proxy.delay(150);
    src.proxy.drop();
    await until(() => false, run, 4000);
    src.proxy.delay(0);
    const res = await run.done;
    const { cut, connections } = src.proxy.stats();
    const row = await settle(fx, 'drop while idle + slow reconnect (source)', res, {
      faulted: midway && idle && cut > 0 && connections > before,
      notes: [
        `${cut} dropped`,
        `${connections - before} new connection(s)`,
        `${logCount(fx, RETRIES)} retries`,
      ],
    });
    expectClean(row);
  });
});

/** True once neither a journal line nor a byte went by for `ms`: the paced run is between bursts. */
function quiet(fx: Fixture, proxy: FaultProxy, ms: number): () => boolean {
  const mark = () => `${doneCount(fx.stateDir)} ${proxy.stats().bytesUp} ${proxy.stats().bytesDown}`;
  let last = mark();
  let since = Date.now();
  return () => {
    const now = mark();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
    return Date.now() - since >= ms;
  };
}

describe.each(IMAP_SINKS)('%s: sink connection', (pair) => {
  it('cut inside an APPEND literal', async () => {
    const fx = await setupPair(rig(), pair, 500);
    // Plain text: over TLS a cut mid-record reaches Dovecot as a cut at the record's start.
    const dst = await route(fx, 'sink', 'plain');
    const next = prng(0xc0ffee + pair.length);
    const run = startCopy(fx, sourceUrl(fx), dst.url, { extra: PACE });
    const midway = await until(() => doneCount(fx.stateDir) >= 20, run);
    // Literals are ~97% of the bytes going up; a cut that lands between them is tried again.
    let cuts = 0;
    let inLiteral: string[] = [];
    for (let attempt = 0; attempt < 4 && !inLiteral.length && !run.finished(); attempt++) {
      dst.proxy.cutAfter(next(2000, 9000), 'up', 'all');
      await until(() => dst.proxy.stats().cut > cuts, run);
      cuts = dst.proxy.stats().cut;
      await until(() => midLiteralDisconnects(fx.sink!.user).length > 0, run, 2000);
      inLiteral = midLiteralDisconnects(fx.sink!.user);
    }
    const res = await run.done;
    const what = /\(While APPENDing[^)]*\)/.exec(inLiteral[0] ?? '')?.[0] ?? 'no mid-literal disconnect';
    const row = await settle(fx, 'cut mid-APPEND (sink)', res, {
      faulted: midway && inLiteral.length > 0,
      notes: [`${cuts} cut(s); Dovecot: ${what}`, `${logCount(fx, RETRIES)} retries`],
    });
    expectClean(row);
  });

  // Before a retry, the executor looks for an APPEND whose answer was lost (Sink.find).
  it('lost after the server stored an APPEND, before its OK arrived', async () => {
    const fx = await setupPair(rig(), pair, 700);
    const dst = await route(fx, 'sink', 'plain');
    // One sink connection: exactly one APPEND is in doubt.
    const run = startCopy(fx, sourceUrl(fx), dst.url, { extra: [...PACE, '--connections', '1'] });
    const midway = await until(() => doneCount(fx.stateDir) >= 20, run);
    const rule = dst.proxy.replaceReply(
      /^\S+ OK \[APPENDUID /,
      (line) => {
        dst.proxy.drop();
        return line;
      },
      1,
    );
    const res = await run.done;
    const row = await settle(fx, 'APPEND OK lost (sink, --connections 1)', res, {
      faulted: midway && rule.hits === 1,
      notes: [`${dst.proxy.stats().cut} connection(s) dropped`, `${logCount(fx, RETRIES)} retries`],
    });
    expectClean(row);
  });
});
