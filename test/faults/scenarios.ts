/**
 * Shared by the fault tests: seeded pairs on a Dovecot rig, routes through a FaultProxy,
 * bounded CLI runs, and settle(): what the sink holds against the seed manifest (lost and
 * duplicated messages, see holdings.ts), verify's exit code, one row in the results table.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';
import { type ExpectStatic, expect as globalExpect, onTestFinished } from 'vitest';
import { type CliResult, collect, spawnCli } from '../helpers/cli.js';
import { createAccount } from '../rig/accounts.js';
import type { RigInfo } from '../rig/dovecot.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';
import { type Holdings, readImap, readMbox, readZip, tally } from './holdings.js';
import { FaultProxy } from './proxy.js';
import { type ResultRow, recordResult } from './table.js';

export type PairId = 'imap-imap' | 'pop3-imap' | 'imap-zip' | 'imap-mbox';
export const PAIRS: readonly PairId[] = ['imap-imap', 'pop3-imap', 'imap-zip', 'imap-mbox'];
export const PAIR_NAMES: Record<PairId, string> = {
  'imap-imap': 'IMAP→IMAP',
  'pop3-imap': 'POP3→IMAP',
  'imap-zip': 'IMAP→zip',
  'imap-mbox': 'IMAP→mbox',
};

export interface Account {
  user: string;
  password: string;
}

export interface Fixture {
  pair: PairId;
  rig: RigInfo;
  source: Account;
  seeded: SeededMessage[];
  /** The IMAP sink account (IMAP sinks only). */
  sink?: Account;
  /** `zip:PATH` or `mbox:PATH` (file sinks only). */
  archive?: string;
  stateDir: string;
  logFile: string;
  env: NodeJS.ProcessEnv;
}

/** mulberry32: the same seed gives the same fault points on every machine. */
export function prng(seed: number): (lo: number, hi: number) => number {
  let a = seed >>> 0;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + Math.floor(r * (hi - lo + 1));
  };
}

let counter = 0;
const runTag = randomBytes(2).toString('hex');

export async function account(rig: RigInfo, prefix: string): Promise<Account> {
  counter += 1;
  const user = `${prefix}-${process.pid}-${threadId}-${runTag}-${counter}`.toLowerCase();
  const password = `pw-${randomBytes(6).toString('hex')}`;
  await createAccount(rig, user, password);
  return { user, password };
}

/**
 * A fresh, seeded source and an empty sink: `count` corpus messages (IMAP: in three folders;
 * POP3: INBOX) plus the edge cases.
 */
export async function setupPair(rig: RigInfo, pair: PairId, offset = 0, count = 150): Promise<Fixture> {
  const source = await account(rig, `flt-${pair.slice(0, 4)}`);
  const part = Math.round(count * 0.27);
  const spec =
    pair === 'pop3-imap'
      ? { folders: [{ name: 'INBOX', count, offset }], edgeCases: 'INBOX' }
      : {
          folders: [
            { name: 'INBOX', count: count - 2 * part, offset },
            { name: 'Sent', count: part, specialUse: '\\Sent' },
            { name: 'Archive/2002', count: part },
          ],
          edgeCases: 'INBOX',
          flags: true,
        };
  const seeded = await seedAccount(rig, source.user, spec);
  const dir = mkdtempSync(join(tmpdir(), `mf-fault-${pair}-`));
  const fx: Fixture = {
    pair,
    rig,
    source,
    seeded,
    stateDir: join(dir, 'state'),
    logFile: join(dir, 'log.jsonl'),
    env: { MAILFERRY_SOURCE_PASSWORD: source.password },
  };
  if (pair === 'imap-zip') fx.archive = `zip:${join(dir, 'backup.zip')}`;
  else if (pair === 'imap-mbox') fx.archive = `mbox:${join(dir, 'backup')}`;
  else {
    fx.sink = await account(rig, 'flt-dst');
    fx.env.MAILFERRY_SINK_PASSWORD = fx.sink.password;
  }
  return fx;
}

export type Wire = 'tls' | 'plain';
type Scheme = 'imaps' | 'imap' | 'pop3s' | 'pop3';

function serverUrl(scheme: Scheme, port: number, user: string): string {
  return `${scheme}://${encodeURIComponent(user)}@127.0.0.1:${port}`;
}

function schemeOf(fx: Fixture, side: 'source' | 'sink', wire: Wire): Scheme {
  const pop = side === 'source' && fx.pair === 'pop3-imap';
  if (pop) return wire === 'tls' ? 'pop3s' : 'pop3';
  return wire === 'tls' ? 'imaps' : 'imap';
}

/** Straight to the rig over TLS. */
export function sourceUrl(fx: Fixture): string {
  const scheme = schemeOf(fx, 'source', 'tls');
  return serverUrl(scheme, fx.rig.ports[scheme], fx.source.user);
}

export function sinkUrl(fx: Fixture): string {
  return fx.archive ?? serverUrl('imaps', fx.rig.ports.imaps, fx.sink!.user);
}

export interface Route {
  proxy: FaultProxy;
  url: string;
}

/**
 * One side of a pair through a FaultProxy, closed when the test ends (concurrent tests pass
 * their context's onTestFinished). A plain route hides TLS so reply rules can see the protocol:
 * IMAP's STARTTLS is struck from CAPABILITY lines (message text travels in literals, which are
 * never matched), and a POP3 STLS is refused, which mailferry accepts on loopback.
 */
export async function route(
  fx: Fixture,
  side: 'source' | 'sink',
  wire: Wire,
  onFinished: (fn: () => Promise<void>) => void = onTestFinished,
): Promise<Route> {
  const scheme = schemeOf(fx, side, wire);
  const proxy = await FaultProxy.start({ port: fx.rig.ports[scheme] });
  onFinished(() => proxy.close());
  if (scheme === 'imap') proxy.replaceReply(/CAPABILITY/, (l) => l.replace(/ STARTTLS\b/g, ''), 1e9);
  if (scheme === 'pop3') proxy.answerCommand(/^STLS$/i, '-ERR TLS is not available on this port', 1e9);
  const user = side === 'source' ? fx.source.user : fx.sink!.user;
  return { proxy, url: serverUrl(scheme, proxy.port, user) };
}

/** The tag of an IMAP command line, for answers in its name. */
export function tagOf(line: string): string {
  return line.slice(0, line.indexOf(' '));
}

export interface RunResult extends CliResult {
  /** Killed at the deadline: the run did not end by itself. */
  hung: boolean;
  ms: number;
}

export interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
  finished: () => boolean;
}

/** `mailferry copy` as a real process, SIGKILLed if it outlives `deadlineMs`. */
export function startCopy(
  fx: Fixture,
  source: string,
  sink: string,
  opts: { extra?: string[]; deadlineMs?: number } = {},
): Running {
  const args = ['copy', source, sink, ...commonArgs(fx), '--log-file', fx.logFile, ...(opts.extra ?? [])];
  const started = Date.now();
  const child = spawnCli(args, fx.env);
  let ended = false;
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, opts.deadlineMs ?? 90_000);
  const done = collect(child).then((r) => {
    ended = true;
    clearTimeout(timer);
    return { ...r, hung, ms: Date.now() - started };
  });
  return { child, done, finished: () => ended };
}

function commonArgs(fx: Fixture): string[] {
  return ['--ca-file', fx.rig.caFile, '--state-dir', fx.stateDir, '--progress', 'none', '--json'];
}

/** Polls until `pred` holds (true) or the run ends or `ms` pass (false). */
export async function until(pred: () => boolean, run: Running, ms = 60_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !run.finished()) {
    if (pred()) return true;
    await sleep(10);
  }
  return pred();
}

/** `mailferry verify` straight against the rig (no proxy). */
export async function verify(fx: Fixture): Promise<CliResult> {
  const env = { ...fx.env, MAILFERRY_SINK_PASSWORD: fx.sink?.password ?? '' };
  const child = spawnCli(['verify', sourceUrl(fx), sinkUrl(fx), ...commonArgs(fx)], env);
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const r = await collect(child);
  clearTimeout(timer);
  return r;
}

/** Lines of the run's --log-file (every level) whose message matches. */
export function logCount(fx: Fixture, pattern: RegExp): number {
  let text = '';
  try {
    text = readFileSync(fx.logFile, 'utf8');
  } catch {
    return 0;
  }
  return text
    .split('\n')
    .filter(Boolean)
    .filter((l) => pattern.test((JSON.parse(l) as { msg: string }).msg)).length;
}

function expected(fx: Fixture): Holdings {
  const out: Holdings = new Map();
  for (const m of fx.seeded) {
    const folder = fx.pair === 'pop3-imap' ? 'INBOX' : m.folder;
    out.set(folder, [...(out.get(folder) ?? []), m.sha256]);
  }
  return out;
}

/** What the sink holds, read back without mailferry. */
async function holdings(fx: Fixture): Promise<Holdings> {
  if (fx.sink) return readImap(fx.rig, fx.sink);
  const path = fx.archive!.slice(fx.archive!.indexOf(':') + 1);
  return fx.pair === 'imap-zip' ? readZip(path) : readMbox(path);
}

export interface Settled extends ResultRow {
  detail: string;
}

export interface Observed {
  /** Whether the fault really happened; if not, the row is a FAIL: nothing was tested. */
  faulted: boolean;
  notes: string[];
  /** Defaults to the run's own time. */
  seconds?: number;
}

/** After a scenario: count lost and duplicated messages, run verify, record the row. */
export async function settle(fx: Fixture, fault: string, run: RunResult, seen: Observed): Promise<Settled> {
  const { faulted, notes, seconds = run.ms / 1000 } = seen;
  const t = tally(expected(fx), await holdings(fx));
  const v = await verify(fx);
  const ok = faulted && !run.hung && run.code === 0 && !t.lost && !t.duplicated && v.code === 0;
  const extra = [...notes];
  if (!faulted) extra.push('fault did not happen');
  if (run.hung) extra.push('HUNG: killed at the deadline');
  if (run.code !== 0 && !run.hung) extra.push(`copy: ${lastError(run.stderr)}`);
  if (t.detail) extra.push(t.detail);
  const row: ResultRow = {
    pair: PAIR_NAMES[fx.pair],
    fault,
    outcome: ok ? 'ok' : 'FAIL',
    lost: t.lost,
    duplicated: t.duplicated,
    verifyExit: v.code,
    runExit: run.hung ? null : run.code,
    seconds: Math.round(seconds * 10) / 10,
    notes: extra.join('; '),
  };
  recordResult(row);
  const detail = `${row.notes}\n--- copy stderr:\n${run.stderr.slice(-2000)}\n--- verify:\n${v.stdout.slice(-1500)}`;
  return { ...row, detail };
}

/** What every scenario must show: it completed, nothing lost or doubled, verify agrees. */
export function expectClean(row: Settled, expect: ExpectStatic = globalExpect): void {
  expect(row.outcome, row.detail).toBe('ok');
  expect(row.lost, row.detail).toBe(0);
  expect(row.duplicated, row.detail).toBe(0);
  expect(row.verifyExit, row.detail).toBe(0);
}

/** The line that says why the run failed: the last one of mailferry's own, back-off lines aside. */
function lastError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('mailferry:') && !/throttling/.test(l));
  return (lines.at(-1) ?? stderr.trim().split('\n').at(-1) ?? '').slice(0, 160);
}
