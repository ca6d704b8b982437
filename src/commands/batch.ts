import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { readAccounts } from '../batch/accounts.js';
import { emptyResult, type PairResult, type PairSettings, pairRequest, stateOfExit } from '../batch/pair.js';
import { startBatchView } from '../batch/progress.js';
import { type BatchReport, buildReport, writeReports } from '../batch/report.js';
import { BatchRunner } from '../batch/runner.js';
import { defaultStateDir } from '../config.js';
import { exitCodeOf, MailferryError } from '../errors.js';
import type { Counters } from '../run/progress.js';
import { plan } from './transfer.js';

export interface BatchRequest {
  csv: string;
  pair: PairSettings;
  jobs: number;
  perHost: number;
  quotaWaitMs: number;
  quotaRetries: number;
  /** Where report.json, report.csv and report.html go (default: under the state directory). */
  reportDir?: string;
  progress: 'auto' | 'bar' | 'log' | 'none';
  signal: AbortSignal;
  write: (line: string) => void;
}

export interface BatchOutcome {
  report: BatchReport;
  files: string[];
  /** 0 every account done; 1 some account is not (the report says why); 130 interrupted. */
  exitCode: number;
}

export function defaultReportDir(csv: string, stateDir = defaultStateDir()): string {
  const tag = createHash('sha256').update(resolve(csv)).digest('hex').slice(0, 8);
  return join(stateDir, 'batches', `${basename(csv).replace(/\.csv$/i, '')}-${tag}`);
}

/** `mailferry batch accounts.csv`: every pair copied, each resuming from its own state directory. */
export async function batch(req: BatchRequest): Promise<BatchOutcome> {
  const accounts = readAccounts(req.csv);
  const startedAt = Date.now();
  const view = startBatchView(req.progress, accounts.length, req.write);
  const runner = new BatchRunner(
    accounts,
    {
      jobs: req.jobs,
      perHost: req.perHost,
      pair: req.pair,
      quotaWaitMs: req.quotaWaitMs,
      quotaRetries: req.quotaRetries,
      signal: req.signal,
    },
    { changed: (r, c) => view.changed(r, c) },
  );
  let results: PairResult[];
  try {
    results = await runner.run();
  } finally {
    view.stop();
  }
  const report = buildReport(results, {
    startedAt,
    jobs: req.jobs,
    perHost: req.perHost,
    peak: runner.limiter.peak,
  });
  const dir = req.reportDir ?? defaultReportDir(req.csv, req.pair.base.stateDir);
  const files = writeReports(dir, report);
  const exitCode = req.signal.aborted ? 130 : report.totals.done === accounts.length ? 0 : 1;
  return { report, files, exitCode };
}

/** `batch --check`: logs in to both sides of every pair and plans, writing nothing. */
export async function checkBatch(req: BatchRequest): Promise<BatchOutcome> {
  const accounts = readAccounts(req.csv);
  const startedAt = Date.now();
  const runner = new BatchRunner(accounts, {
    jobs: req.jobs,
    perHost: req.perHost,
    pair: req.pair,
    quotaWaitMs: 0,
    quotaRetries: 0,
    signal: req.signal,
    runOne: async (a, s, _c: Counters | undefined, signal) => {
      const r = emptyResult(a);
      const t = Date.now();
      try {
        const p = await plan(a.source, a.sink, pairRequest(a, s, signal ? { signal } : {}));
        Object.assign(r, {
          planned: p.totals.copy,
          alreadyPresent: p.totals.present,
          bytes: p.totals.copyBytes,
        });
      } catch (err) {
        r.exitCode = exitCodeOf(err);
        r.message = err instanceof MailferryError ? `${err.code}: ${err.message}` : String(err);
        r.message = s.base.secrets?.scrub(r.message) ?? r.message;
      }
      r.state = stateOfExit(r.exitCode);
      r.seconds = (Date.now() - t) / 1000;
      return r;
    },
  });
  const results = await runner.run();
  const report = buildReport(results, {
    startedAt,
    jobs: req.jobs,
    perHost: req.perHost,
    peak: runner.limiter.peak,
  });
  const ok = results.every((r) => r.state === 'done');
  return { report, files: [], exitCode: req.signal.aborted ? 130 : ok ? 0 : 1 };
}

const MB = 1024 * 1024;

export function formatCheck(r: BatchReport): string {
  const lines = r.accounts.map((a) =>
    a.state === 'done'
      ? `ok      ${a.name}: ${a.planned} to copy (${(a.bytes / MB).toFixed(1)} MB), ${a.alreadyPresent} already present`
      : `FAILED  ${a.name}: ${a.message ?? a.state}`,
  );
  const bad = r.accounts.filter((a) => a.state !== 'done').length;
  lines.push(
    `Total: ${r.accounts.length} account(s), ${r.accounts.length - bad} reachable, ${bad} failed; ${r.totals.planned} message(s) to copy (${(r.totals.bytes / MB).toFixed(1)} MB)`,
  );
  return lines.join('\n');
}

export function formatBatch(o: BatchOutcome): string {
  const t = o.report.totals;
  const lines = [
    `Batch: ${t.done}/${t.accounts} account(s) done; ${t.copied} message(s) copied, ${t.failed} failed, ${(t.bytes / MB).toFixed(1)} MB in ${o.report.seconds.toFixed(1)} s (${o.report.messagesPerSecond} msg/s)`,
  ];
  for (const a of o.report.accounts)
    if (a.state !== 'done') lines.push(`  ${a.name}: ${a.state}${a.message ? `: ${a.message}` : ''}`);
  if (o.files.length) lines.push(`Report: ${o.files.join(', ')}`);
  return lines.join('\n');
}
