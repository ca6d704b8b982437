import { readFileSync } from 'node:fs';
import { MailferryError } from '../errors.js';
import type { Plan } from '../plan/diff.js';
import { deleteCopied } from '../run/delete.js';
import { Executor, type MessageFailure } from '../run/executor.js';
import { Counters, startProgress } from '../run/progress.js';
import { Quarantine } from '../run/quarantine.js';
import { TokenBucket } from '../run/throttle.js';
import { silentLogger } from '../util/log.js';
import { printable } from '../util/secrets.js';
import { openSink, openSource, type TransferRequest } from './common.js';
import { releaseAll } from './locks.js';
import { type Prepared, prepareTransfer } from './transfer.js';

export interface CopyReport {
  source: string;
  sink: string;
  dryRun: boolean;
  planned: number;
  copied: number;
  alreadyPresent: number;
  flagsUpdated: number;
  failed: MessageFailure[];
  deleted: number;
  bytes: number;
  seconds: number;
  messagesPerSecond: number;
  /** Peak resident memory of this process so far, in MiB (VmHWM on Linux, else maxRSS). */
  peakRssMb: number;
  /** 0 done, 1 some failed, 3 connection, 4 limit, 130 interrupted. */
  exitCode: number;
  stoppedBy?: { code: string; message: string; hint?: string };
  stateDir?: string;
  plan?: Plan;
}

/** `mailferry copy`: plan, then execute; a re-run resumes and copies only what is new. */
export async function copy(
  sourceText: string,
  sinkText: string,
  req: TransferRequest = {},
): Promise<CopyReport> {
  const counters = req.counters ?? new Counters();
  const p = await prepareTransfer(sourceText, sinkText, req, { lock: !req.dryRun });
  try {
    return await execute(p, req, counters);
  } finally {
    releaseAll(p.locks);
  }
}

async function execute(p: Prepared, req: TransferRequest, counters: Counters): Promise<CopyReport> {
  const log = req.log ?? silentLogger;
  const { plan, options, checkpoint } = p;
  const report = emptyReport(p);
  if (options.dryRun) {
    await Promise.allSettled([p.source.close(), p.sink.close()]);
    return { ...report, plan };
  }
  checkpoint.open(p.src.name, p.dst.name);
  counters.planned = plan.totals.copy;
  counters.plannedBytes = plan.totals.copyBytes;
  const progress = startProgress(req.progress ?? 'none', counters, (l) => log.info(l));
  const quarantine = new Quarantine(checkpoint.dir, log);
  const executor = newExecutor(p, req, counters, quarantine);
  let stopped: MailferryError | undefined;
  try {
    const result = await executor.run();
    progress.stop();
    Object.assign(report, {
      copied: result.copied,
      bytes: result.bytes,
      flagsUpdated: result.flagsUpdated,
      failed: result.failed,
    });
    stopped = result.stopped;
    report.exitCode = result.interrupted ? 130 : (stopped?.exitCode ?? (result.failed.length ? 1 : 0));
    if (options.deleteSource && report.exitCode === 0) {
      const del = await deleteCopied(
        plan,
        () => openSource(p.src),
        () => openSink(p.dst),
        checkpoint,
        log,
      );
      report.deleted = del.deleted;
    }
  } finally {
    progress.stop();
    await finish(report, counters, p, quarantine);
  }
  if (stopped)
    report.stoppedBy = {
      code: stopped.code,
      message: stopped.message,
      ...(stopped.hint ? { hint: stopped.hint } : {}),
    };
  return scrubReport(report, req);
}

function emptyReport(p: Prepared): CopyReport {
  return {
    source: p.src.name,
    sink: p.dst.name,
    dryRun: p.options.dryRun,
    planned: p.plan.totals.copy,
    copied: 0,
    alreadyPresent: p.plan.totals.present,
    flagsUpdated: 0,
    failed: [],
    deleted: 0,
    bytes: 0,
    seconds: 0,
    messagesPerSecond: 0,
    peakRssMb: 0,
    exitCode: 0,
    stateDir: p.checkpoint.dir,
  };
}

function newExecutor(
  p: Prepared,
  req: TransferRequest,
  counters: Counters,
  quarantine: Quarantine,
): Executor {
  const { plan, options, checkpoint } = p;
  const signal = req.signal ?? new AbortController().signal;
  return new Executor({
    plan,
    openSource: () => openSource(p.src),
    openSink: () => openSink(p.dst),
    initial: { source: p.source, sink: p.sink },
    sourceCaps: p.source.capabilities,
    sinkCaps: p.sink.capabilities,
    checkpoint,
    options,
    log: req.log ?? silentLogger,
    counters,
    bucket: options.maxBytesPerSecond
      ? new TokenBucket(options.maxBytesPerSecond, undefined, signal)
      : undefined,
    signal,
    quarantine,
    stallMs: req.timeoutMs,
    mayRelogin: (err) =>
      err instanceof MailferryError &&
      err.code === 'EAUTH' &&
      [p.src, p.dst].some((s) => s.oauth2 && s.loggedIn),
  });
}

/** Timing figures into the report, the end line into the journal, then close what the run held. */
async function finish(report: CopyReport, counters: Counters, p: Prepared, quarantine: Quarantine) {
  report.seconds = (Date.now() - counters.startedAt) / 1000;
  report.peakRssMb = peakRssMb();
  report.messagesPerSecond = report.seconds > 0 ? Math.round((report.copied / report.seconds) * 10) / 10 : 0;
  p.checkpoint.append(
    {
      t: 'end',
      at: new Date().toISOString(),
      copied: report.copied,
      failed: report.failed.length,
      exit: report.exitCode,
    },
    true,
  );
  p.checkpoint.close();
  await quarantine.close();
}

/** Reasons come from server texts, which may repeat a secret: the report never carries one. */
function scrubReport(report: CopyReport, req: TransferRequest): CopyReport {
  const secrets = req.secrets;
  if (!secrets) return report;
  for (const f of report.failed) f.reason = secrets.scrub(f.reason);
  if (report.stoppedBy) report.stoppedBy.message = secrets.scrub(report.stoppedBy.message);
  return report;
}

const MB = 1024 * 1024;

export function formatReport(r: CopyReport): string {
  const lines = [
    `${r.dryRun ? 'Dry run: would copy' : 'Copied'} ${r.dryRun ? r.planned : r.copied} message(s), ${(r.bytes / MB).toFixed(1)} MB in ${r.seconds.toFixed(1)} s (${r.messagesPerSecond} msg/s); already present: ${r.alreadyPresent}`,
  ];
  if (r.flagsUpdated) lines.push(`Flags updated: ${r.flagsUpdated}`);
  if (r.deleted) lines.push(`Deleted at the source after confirming the copies: ${r.deleted}`);
  if (r.failed.length) {
    lines.push(`Failed: ${r.failed.length} (a re-run retries them)`);
    for (const f of r.failed.slice(0, 50)) {
      const aside = f.quarantined ? `; set aside in ${f.quarantined}` : '';
      lines.push(`  ${printable(f.folder)} ${f.id}: ${f.code} ${f.reason}${aside}`);
    }
    if (r.failed.length > 50) lines.push(`  ... and ${r.failed.length - 50} more (see --json)`);
  }
  return lines.join('\n');
}

/**
 * Linux carries a process's peak RSS across exec (getrusage's maxRSS is at least what the
 * forking parent held), so a CLI spawned by a big process reported the parent's size.
 * /proc/self/status VmHWM belongs to this program image alone.
 */
function peakRssMb(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'));
    if (hwm) return Math.round(Number(hwm[1]) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
