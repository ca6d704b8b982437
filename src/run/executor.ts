import PQueue from 'p-queue';
import type { TransferOptions } from '../config.js';
import { ConnectionError, FolderError, LimitError, MailferryError, MessageError } from '../errors.js';
import type { FolderPlan, Plan, PlanItem } from '../plan/diff.js';
import type { FolderStatus, Sink, SinkCapabilities, Source, SourceCapabilities } from '../types.js';
import type { Logger } from '../util/log.js';
import { printable } from '../util/secrets.js';
import { timerMs } from '../util/timers.js';
import { ByteBudget } from './budget.js';
import type { Checkpoint } from './checkpoint.js';
import type { Counters } from './progress.js';
import { type Quarantine, setAside } from './quarantine.js';
import { Retrier } from './retry.js';
import { Sessions } from './sessions.js';
import { Settler } from './settle.js';
import type { TokenBucket } from './throttle.js';
import { type AttemptState, MessageTransfer, type Stored, toMeta } from './transfer.js';

export { toMeta };

export interface MessageFailure {
  folder: string;
  id: string;
  code: string;
  reason: string;
  /** Set when the message was set aside in the quarantine archive. */
  quarantined?: string;
}

export interface ExecuteResult {
  copied: number;
  bytes: number;
  flagsUpdated: number;
  droppedFlags: number;
  failed: MessageFailure[];
  /** The error that stopped the run early (limit, login, trust), if any. */
  stopped?: MailferryError;
  interrupted: boolean;
}

export interface ExecuteDeps {
  plan: Plan;
  openSource: () => Promise<Source>;
  openSink: () => Promise<Sink>;
  /** Sessions the planner already opened. */
  initial?: { source: Source; sink: Sink };
  sourceCaps: SourceCapabilities;
  sinkCaps: SinkCapabilities;
  checkpoint: Checkpoint;
  options: TransferOptions;
  log: Logger;
  counters: Counters;
  bucket?: TokenBucket;
  signal: AbortSignal;
  /** Where messages too big for the sink are set aside. */
  quarantine?: Quarantine;
  /** Whether a refused login may be an expired token worth one fresh login. */
  mayRelogin?: (err: unknown) => boolean;
  /** A message whose bytes stop moving this long fails (--timeout). */
  stallMs?: number;
}

/**
 * Runs a plan on a rate-limited queue, one journal line per message the sink made durable.
 * This file is the folder loop and the queue; one message's transfer is in transfer.ts,
 * settling lost appends in settle.ts, backoff and re-login in retry.ts.
 */
export class Executor {
  private readonly sessions: Sessions;
  private readonly queue: PQueue;
  private readonly result: ExecuteResult = {
    copied: 0,
    bytes: 0,
    flagsUpdated: 0,
    droppedFlags: 0,
    failed: [],
    interrupted: false,
  };
  private readonly stop = new AbortController();
  private readonly settler: Settler;
  private readonly transfer: MessageTransfer;
  private readonly retrier: Retrier;

  constructor(private readonly d: ExecuteDeps) {
    this.sessions = new Sessions({ ...d, connections: d.options.connections });
    this.settler = new Settler(d.checkpoint.state, this.sessions, d.log);
    this.transfer = new MessageTransfer({
      ...d,
      sessions: this.sessions,
      budget: new ByteBudget(BUDGET_BYTES),
      unread: d.options.unread,
      stopped: this.stop.signal,
    });
    this.retrier = new Retrier({
      retries: d.options.retries,
      maxThrottleMs: d.options.maxThrottleMs,
      log: d.log,
      signal: this.stop.signal,
      mayRelogin: d.mayRelogin,
      slowDown: () => {
        this.queue.concurrency = Math.max(1, Math.floor(this.queue.concurrency / 2));
        return this.queue.concurrency;
      },
      halt: (err) => this.halt(err),
    });
    // Batching needs many messages in flight; the byte budget bounds what they hold.
    const batching = d.sourceCaps.pipelineDepth !== undefined || d.sinkCaps.pipelineDepth !== undefined;
    const concurrency = batching ? WINDOW : Math.min(Math.max(1, d.options.connections), 16);
    const rate = d.options.maxMessagesPerSecond;
    this.queue = new PQueue(
      // One start per 1/rate seconds: evenly spread, not a burst at the top of every second.
      rate ? { concurrency, intervalCap: 1, interval: timerMs(1000 / rate) } : { concurrency },
    );
    if (d.signal.aborted) this.halt();
    else d.signal.addEventListener('abort', () => this.halt(), { once: true });
  }

  async run(): Promise<ExecuteResult> {
    try {
      // Folders run side by side; the shared queue bounds how much runs at once.
      await Promise.all(this.d.plan.folders.map((f) => this.runFolder(f)));
      await this.queue.onIdle();
    } finally {
      this.d.checkpoint.sync();
      await this.sessions.closeAll();
    }
    this.result.interrupted = this.d.signal.aborted;
    return this.result;
  }

  private halt(err?: MailferryError): void {
    if (err && !this.result.stopped) this.result.stopped = err;
    // Queued tasks see the abort and return at once; clearing the queue would strand their promises.
    this.stop.abort();
  }

  private async runFolder(fp: FolderPlan): Promise<void> {
    const name = fp.source.name;
    for (const s of fp.skipped) this.fail(name, s.id, new MessageError('EUNSAFE', s.reason));
    if (fp.failed) {
      const code = fp.failed.code === 'ENOFOLDER' ? 'ENOFOLDER' : 'EFOLDER';
      this.fail(name, '*', new FolderError(code, fp.failed.reason));
      return;
    }
    if (fp.unchanged) return;
    try {
      if (fp.create || fp.copy.length) await this.sessions.withSink((sink) => sink.ensureFolder(fp.target));
    } catch (err) {
      if (this.fatal(err)) return;
      for (const m of fp.copy) this.fail(name, m.id, err);
      return;
    }
    const before = this.result.failed.length;
    await this.feed(this.jobsOf(fp));
    if (!this.stop.signal.aborted && this.result.failed.length === before && fp.sourceStatus) {
      const sink = await this.sinkStatus(fp.target.name);
      this.d.checkpoint.append(
        { t: 'folder', f: name, status: fp.sourceStatus, ...(sink && { sink }) },
        true,
      );
    }
  }

  private *jobsOf(fp: FolderPlan): Generator<() => Promise<void>> {
    const later: PlanItem[] = [];
    for (const item of fp.copy) {
      if (this.settler.wasInFlight(fp.source.name, item.id)) later.push(item);
      else yield () => this.copyWithRetry(fp, item);
    }
    // Sent by a run that stopped before the answer came: the sink may still be storing it for
    // the dead session, after this run's plan looked. Last, and looked for before sending.
    for (const item of later) yield () => this.copyWithRetry(fp, item, { uncertain: true });
    for (const u of fp.flagUpdates) yield () => this.updateFlags(fp, u.sinkId, u.flags);
  }

  /**
   * Queue jobs only as the queue drains: a task, its closure and promise per message queued
   * up front grew memory with the folder (6,000 messages: ~5 MB of heap).
   */
  private async feed(jobs: Iterable<() => Promise<void>>): Promise<void> {
    const running = new Set<Promise<void>>();
    for (const job of jobs) {
      if (this.stop.signal.aborted) break;
      if (this.queue.size >= WINDOW) await this.queue.onSizeLessThan(WINDOW);
      const task: Promise<void> = this.queue.add(job).then(
        () => void running.delete(task),
        () => void running.delete(task),
      );
      running.add(task);
    }
    await Promise.allSettled([...running]);
  }

  /** The sink folder as this run left it, so a re-run can tell nobody touched it since. */
  private async sinkStatus(folder: string): Promise<FolderStatus | undefined> {
    try {
      return await this.sessions.withSink(async (sink) => sink.folderStatus?.(folder));
    } catch {
      return undefined;
    }
  }

  private async copyWithRetry(
    fp: FolderPlan,
    item: PlanItem,
    start: AttemptState = { uncertain: false },
  ): Promise<void> {
    const state: AttemptState = { ...start };
    for (let attempt = 0; ; attempt++) {
      if (this.stop.signal.aborted) return;
      try {
        // The last APPEND may have been stored with its answer lost: look before sending again.
        const landed = state.uncertain ? await this.settler.landedAnyway(fp, item) : undefined;
        if (landed) return this.record(fp, item, { ...landed, droppedFlags: false });
        state.uncertain = false;
        const stored = await this.transfer.copy(fp, item, state);
        if (stored) this.record(fp, item, stored);
        return;
      } catch (err) {
        if (!this.retrier.relogin(attempt, err) && this.fatal(err)) return;
        if (!this.retrier.again(attempt, err)) {
          const failure = this.fail(fp.source.name, item.id, err);
          if (err instanceof MailferryError && err.code === 'ETOOBIG') await this.setAside(fp, item, failure);
          return;
        }
        await this.retrier.backOff(attempt, err);
      }
    }
  }

  private record(fp: FolderPlan, item: PlanItem, stored: Stored): void {
    const { key, sinkId } = stored;
    this.d.checkpoint.append({
      t: 'done',
      f: fp.source.name,
      id: item.id,
      key,
      to: fp.target.name,
      sid: sinkId,
      size: item.size,
    });
    this.settler.copied(fp.target.name, key);
    if (stored.droppedFlags) this.result.droppedFlags += 1;
    this.result.copied++;
    this.result.bytes += item.size;
    this.d.counters.copied++;
  }

  private async updateFlags(fp: FolderPlan, sinkId: string, flags: string[]): Promise<void> {
    if (this.stop.signal.aborted) return;
    try {
      await this.sessions.withSink(async (sink) => {
        if (!sink.setFlags) return;
        await sink.setFlags(fp.target.name, sinkId, flags);
        this.result.flagsUpdated++;
      });
    } catch (err) {
      if (!this.fatal(err)) this.fail(fp.source.name, `flags:${sinkId}`, err);
    }
  }

  /** Limits and login/trust failures stop the whole run; everything else is per message. */
  private fatal(err: unknown): boolean {
    if (this.stop.signal.aborted) return true;
    if (err instanceof LimitError || (err instanceof ConnectionError && !err.retryable)) {
      this.halt(err);
      return true;
    }
    return false;
  }

  private fail(folder: string, id: string, err: unknown): MessageFailure {
    const code = err instanceof MailferryError ? err.code : 'EUNKNOWN';
    const reason = err instanceof Error ? err.message : String(err);
    const failure: MessageFailure = { folder, id, code, reason };
    this.result.failed.push(failure);
    this.d.counters.failed++;
    this.d.log.warn(`${printable(folder)} message ${id} not copied: ${reason}`);
    return failure;
  }

  private async setAside(fp: FolderPlan, item: PlanItem, failure: MessageFailure): Promise<void> {
    if (!this.d.quarantine) return;
    const path = await setAside(this.d.quarantine, this.sessions, fp.source, toMeta(item), this.d.log);
    if (path) failure.quarantined = path;
  }
}

/** Messages in flight when a side batches: one FETCH batch on the wire while the last is written. */
const WINDOW = 256;
/** Bytes those messages may hold at once (each is held up to three times on its way). */
const BUDGET_BYTES = 4 * 1024 * 1024;
