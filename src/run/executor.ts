import PQueue from 'p-queue';
import type { TransferOptions } from '../config.js';
import {
  ConnectionError,
  FolderError,
  isRetryable,
  LimitError,
  MailferryError,
  MessageError,
} from '../errors.js';
import { CrlfHasher } from '../mail/hash.js';
import type { FolderPlan, Plan, PlanItem } from '../plan/diff.js';
import { identityKey } from '../plan/identity.js';
import type {
  FolderStatus,
  LearnedIdentity,
  MessageBody,
  MessageMeta,
  Sink,
  SinkCapabilities,
  Source,
  SourceCapabilities,
} from '../types.js';
import type { Logger } from '../util/log.js';
import { printable } from '../util/secrets.js';
import { timerMs } from '../util/timers.js';
import { ByteBudget } from './budget.js';
import type { Checkpoint } from './checkpoint.js';
import { SessionPool } from './pool.js';
import type { Counters } from './progress.js';
import type { Quarantine } from './quarantine.js';
import { backoffDelay, waitFor } from './retry.js';
import { MeteredStream, type TokenBucket } from './throttle.js';
import { Watchdog } from './watchdog.js';

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

interface AttemptState {
  /** An APPEND went out and its outcome is unknown. */
  uncertain: boolean;
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

/** Runs a plan on a rate-limited queue, one journal line per message the sink made durable. */
export class Executor {
  private readonly sources: SessionPool<Source>;
  private readonly sinks: SessionPool<Sink>;
  private readonly queue: PQueue;
  private readonly result: ExecuteResult = {
    copied: 0,
    bytes: 0,
    flagsUpdated: 0,
    droppedFlags: 0,
    failed: [],
    interrupted: false,
  };
  private throttledMs = 0;
  /** Copies this run made per (target folder, identity), for settling lost APPEND answers. */
  private readonly doneKeys = new Map<string, number>();
  private readonly stop = new AbortController();
  private readonly budget = new ByteBudget(BUDGET_BYTES);

  /** Messages earlier runs sent without an answer (intent, no done), per source folder. */
  private readonly unsettled: ReadonlyMap<string, ReadonlySet<string>>;

  constructor(private readonly d: ExecuteDeps) {
    this.unsettled = new Map([...d.checkpoint.state.inFlight].map(([f, ids]) => [f, new Set(ids)]));
    const n = Math.max(1, d.options.connections);
    // A session that batches concurrent calls (IMAP FETCH and MULTIAPPEND, POP3 pipelined
    // RETR) or allows only one session (files, which serialise) is shared between workers.
    const srcMax = Math.min(n, d.sourceCaps.maxConnections);
    this.sources = new SessionPool(d.openSource, srcMax, sharing(srcMax, d.sourceCaps.pipelineDepth));
    const sinkMax = Math.min(n, d.sinkCaps.maxConnections);
    this.sinks = new SessionPool(d.openSink, sinkMax, sharing(sinkMax, d.sinkCaps.pipelineDepth));
    // Batching needs many messages in flight; the byte budget bounds what they hold.
    const batching = d.sourceCaps.pipelineDepth !== undefined || d.sinkCaps.pipelineDepth !== undefined;
    const concurrency = batching ? WINDOW : Math.min(n, 16);
    if (d.initial) {
      this.sources.adopt(d.initial.source);
      this.sinks.adopt(d.initial.sink);
    }
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
      await this.sources.closeAll();
      await this.sinks.closeAll();
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
      if (fp.create || fp.copy.length) await this.withSink((sink) => sink.ensureFolder(fp.target));
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
    const earlier = this.unsettled.get(fp.source.name);
    const later: PlanItem[] = [];
    for (const item of fp.copy) {
      if (earlier?.has(item.id)) later.push(item);
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
      return await this.withSink(async (sink) => sink.folderStatus?.(folder));
    } catch {
      return undefined;
    }
  }

  /** Lazy sources (POP3) learn Message-ID and a date from the headers open() read. */
  private learnIdentity(item: PlanItem, meta: MessageMeta, learned: LearnedIdentity | undefined): void {
    meta.messageId ??= learned?.messageId;
    meta.internalDate ??= learned?.internalDate;
    if (item.internalDate) return;
    if (meta.messageId) item.messageId = meta.messageId;
    // No Received or Date header: the copy is dated now, and the key records that date.
    item.internalDate = (meta.internalDate ?? new Date()).toISOString();
    item.key = identityKey({ ...meta, internalDate: new Date(item.internalDate) });
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
        if (state.uncertain && (await this.landedAnyway(fp, item))) return;
        state.uncertain = false;
        await this.copyOne(fp, item, state);
        return;
      } catch (err) {
        // An expired OAuth2 token: one more try on a fresh login before the run stops.
        const relogin = attempt === 0 && !!this.d.mayRelogin?.(err);
        if (!relogin && this.fatal(err)) return;
        if (!(relogin || isRetryable(err)) || attempt >= this.d.options.retries) {
          const failure = this.fail(fp.source.name, item.id, err);
          if (err instanceof MailferryError && err.code === 'ETOOBIG') await this.setAside(fp, item, failure);
          return;
        }
        await this.backOff(attempt, err);
      }
    }
  }

  /**
   * True when the sink holds more copies of this message than the plan found plus this run
   * added: the lost APPEND was stored, so it is journaled instead of sent twice.
   */
  private async landedAnyway(fp: FolderPlan, item: PlanItem): Promise<boolean> {
    const key = item.key;
    if (!key) return false;
    const ids = await this.withSink(async (sink) =>
      sink.find ? sink.find(fp.target.name, toMeta(item)) : undefined,
    );
    if (!ids) return false;
    const expected =
      fp.present.filter((p) => p.key === key).length + (this.doneKeys.get(`${fp.target.name}\n${key}`) ?? 0);
    if (ids.length <= expected) return false;
    this.d.log.info(`${fp.source.name} message ${item.id}: its APPEND was stored though the answer was lost`);
    this.record(fp, item, key, ids[ids.length - 1]);
    return true;
  }

  private record(fp: FolderPlan, item: PlanItem, key: string, sinkId: string | undefined): void {
    this.d.checkpoint.append({
      t: 'done',
      f: fp.source.name,
      id: item.id,
      key,
      to: fp.target.name,
      sid: sinkId,
      size: item.size,
    });
    const k = `${fp.target.name}\n${key}`;
    this.doneKeys.set(k, (this.doneKeys.get(k) ?? 0) + 1);
    this.result.copied++;
    this.result.bytes += item.size;
    this.d.counters.copied++;
  }

  private async copyOne(fp: FolderPlan, item: PlanItem, state: AttemptState): Promise<void> {
    await this.budget.take(item.size);
    try {
      if (!this.stop.signal.aborted) await this.copyBudgeted(fp, item, state);
    } finally {
      this.budget.give(item.size);
    }
  }

  private async copyBudgeted(fp: FolderPlan, item: PlanItem, state: AttemptState): Promise<void> {
    const meta = toMeta(item);
    this.d.checkpoint.append({ t: 'intent', f: fp.source.name, id: item.id });
    const source = await this.sources.acquire();
    const dog = new Watchdog(this.d.stallMs ?? DEFAULT_STALL_MS);
    try {
      await this.transfer(fp, item, state, meta, source, dog);
    } finally {
      dog.stop();
    }
  }

  private async transfer(
    fp: FolderPlan,
    item: PlanItem,
    state: AttemptState,
    meta: MessageMeta,
    source: Source,
    dog: Watchdog,
  ): Promise<void> {
    let body: MessageBody;
    try {
      const opening = source.open(fp.source, meta);
      // A stalled open may still hand over a stream later: nobody reads it.
      opening.then(
        (s) => dog.error && s.destroy(),
        () => undefined,
      );
      body = await dog.guard(opening);
      if (this.d.sourceCaps.lazyIdentity) this.learnIdentity(item, meta, body.learned);
    } catch (err) {
      this.sources.release(source, brokeSession(err));
      throw err;
    }
    let sourceBroken = false;
    body.once('error', () => {
      sourceBroken = true;
    });
    const hasher = new CrlfHasher();
    const metered = new MeteredStream(this.d.bucket, (chunk) => {
      hasher.update(chunk);
      this.d.counters.bytes += chunk.length;
      dog.touch();
    });
    body.on('error', (err) => metered.destroy(err));
    // The sink learns of a failure through its own read; without a listener here, an error
    // that arrives when the sink is no longer reading (a zip entry shorter than declared,
    // found at its end) is an unhandled 'error' event and crashes the run with a stack trace.
    metered.on('error', () => undefined);
    const piped = body.pipe(metered);
    let sink: Sink | undefined;
    try {
      sink = await this.sinks.acquire();
      state.uncertain = true;
      dog.phase = 'copying it to the sink';
      dog.touch();
      metered.once('end', () => {
        dog.phase = 'waiting for the sink to store it';
      });
      const appending = sink.append({
        folder: fp.target.name,
        meta,
        flags: this.flagsFor(item),
        internalDate: item.internalDate ? new Date(item.internalDate) : undefined,
        body: piped,
      });
      appending.catch(() => undefined);
      const res = await dog.guard(appending);
      const sha = hasher.digest();
      if (res.sha256 && res.sha256 !== sha) {
        throw new MessageError('EMISMATCH', 'the sink stored different bytes than the source sent');
      }
      if (res.droppedFlags?.length) this.result.droppedFlags += 1;
      state.uncertain = false;
      this.record(fp, item, item.key ?? identityKey({ ...meta, sha256: sha }), res.id);
      this.sinks.release(sink);
      this.sources.release(source);
    } catch (err) {
      // The sink must hear of a stall too: its append may still be waiting on the body.
      if (dog.error) piped.destroy(dog.error);
      body.destroy();
      // A body that broke on the source side never reached the server whole.
      if (sourceBroken) state.uncertain = false;
      if (sink) this.sinks.release(sink, !sourceBroken && brokeSession(err));
      this.sources.release(source, sourceBroken || brokeSession(err));
      throw err;
    }
  }

  private flagsFor(item: PlanItem): string[] {
    if (this.d.sourceCaps.keepsFlags) return item.flags;
    return this.d.options.unread ? [] : ['\\Seen'];
  }

  private async updateFlags(fp: FolderPlan, sinkId: string, flags: string[]): Promise<void> {
    if (this.stop.signal.aborted) return;
    try {
      await this.withSink(async (sink) => {
        if (!sink.setFlags) return;
        await sink.setFlags(fp.target.name, sinkId, flags);
        this.result.flagsUpdated++;
      });
    } catch (err) {
      if (!this.fatal(err)) this.fail(fp.source.name, `flags:${sinkId}`, err);
    }
  }

  private async withSink<T>(fn: (sink: Sink) => Promise<T>): Promise<T> {
    const sink = await this.sinks.acquire();
    try {
      const out = await fn(sink);
      this.sinks.release(sink);
      return out;
    } catch (err) {
      this.sinks.release(sink, brokeSession(err));
      throw err;
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

  private async backOff(attempt: number, err: unknown): Promise<void> {
    const ms = backoffDelay(attempt, err, { baseMs: 500, maxMs: 60_000 });
    if (err instanceof MailferryError && err.code === 'ETHROTTLED') {
      this.throttledMs += ms;
      const c = Math.max(1, Math.floor(this.queue.concurrency / 2));
      this.d.log.warn(
        `server is throttling (${err.message}); waiting ${Math.round(ms / 100) / 10} s, ${c} connection(s)`,
      );
      this.queue.concurrency = c;
      if (this.throttledMs > this.d.options.maxThrottleMs) {
        this.halt(
          new LimitError('ELIMIT', 'the server kept throttling', {
            hint: 'run the same command later to resume',
          }),
        );
        return;
      }
    } else {
      this.d.log.debug(`retrying after ${ms} ms: ${err instanceof Error ? err.message : String(err)}`);
    }
    await waitFor(ms, this.stop.signal);
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
    const q = this.d.quarantine;
    if (!q) return;
    const source = await this.sources.acquire();
    try {
      await q.add(source, fp.source, toMeta(item));
      this.sources.release(source);
      failure.quarantined = q.path;
      this.d.log.warn(`${fp.source.name} message ${item.id} set aside in ${q.path}`);
    } catch (err) {
      this.sources.release(source, brokeSession(err));
      this.d.log.warn(
        `${fp.source.name} message ${item.id} could not be set aside: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
}

const DEFAULT_STALL_MS = 60_000;

/** Messages in flight when a side batches: one FETCH batch on the wire while the last is written. */
const WINDOW = 256;
/** Bytes those messages may hold at once (each is held up to three times on its way). */
const BUDGET_BYTES = 4 * 1024 * 1024;

/**
 * Whether a failure means the session should be replaced. A throttled session still works
 * (the server said NO), and closing it would fail every batch other workers queued on it.
 */
function brokeSession(err: unknown): boolean {
  return isRetryable(err) && !(err instanceof MailferryError && err.code === 'ETHROTTLED');
}

function sharing(max: number, depth: number | undefined): number | undefined {
  return max === 1 ? Number.POSITIVE_INFINITY : depth;
}

export function toMeta(item: PlanItem): MessageMeta {
  const m: MessageMeta = { id: item.id, size: item.size, flags: item.flags };
  if (item.internalDate) m.internalDate = new Date(item.internalDate);
  if (item.messageId) m.messageId = item.messageId;
  return m;
}
