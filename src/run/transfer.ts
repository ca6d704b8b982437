import type { Readable } from 'node:stream';
import { MessageError } from '../errors.js';
import { CrlfHasher } from '../mail/hash.js';
import type { FolderPlan, PlanItem } from '../plan/diff.js';
import { identityKey } from '../plan/identity.js';
import type {
  AppendResult,
  LearnedIdentity,
  MessageBody,
  MessageMeta,
  Sink,
  Source,
  SourceCapabilities,
} from '../types.js';
import type { ByteBudget } from './budget.js';
import type { Checkpoint } from './checkpoint.js';
import type { Counters } from './progress.js';
import { brokeSession, type Sessions } from './sessions.js';
import { MeteredStream, type TokenBucket } from './throttle.js';
import { Watchdog } from './watchdog.js';

export interface AttemptState {
  /** An APPEND went out and its outcome is unknown. */
  uncertain: boolean;
}

export interface TransferDeps {
  sessions: Sessions;
  sourceCaps: SourceCapabilities;
  checkpoint: Checkpoint;
  counters: Counters;
  budget: ByteBudget;
  bucket?: TokenBucket;
  /** Flags the sink gets when the source keeps none (--unread). */
  unread: boolean;
  /** A message whose bytes stop moving this long fails (--timeout). */
  stallMs?: number;
  /** The run stopped: a message that waited for the budget is not sent. */
  stopped: AbortSignal;
}

/** What the sink stored. */
export interface Stored {
  key: string;
  sinkId?: string;
  droppedFlags: boolean;
}

const DEFAULT_STALL_MS = 60_000;

/** Moves one message from source to sink, hashing what passes and failing it if it stalls. */
export class MessageTransfer {
  constructor(private readonly d: TransferDeps) {}

  /** Undefined when the run stopped before the message was sent. */
  async copy(fp: FolderPlan, item: PlanItem, state: AttemptState): Promise<Stored | undefined> {
    await this.d.budget.take(item.size);
    try {
      if (this.d.stopped.aborted) return undefined;
      const meta = toMeta(item);
      // Read back by the next run if no `done` follows: see Settler.
      this.d.checkpoint.append({ t: 'intent', f: fp.source.name, id: item.id });
      const source = await this.d.sessions.sources.acquire();
      const dog = new Watchdog(this.d.stallMs ?? DEFAULT_STALL_MS);
      try {
        const body = await this.open(fp, item, meta, source, dog);
        return await this.deliver(fp, item, state, meta, { source, body, dog });
      } finally {
        dog.stop();
      }
    } finally {
      this.d.budget.give(item.size);
    }
  }

  private async open(
    fp: FolderPlan,
    item: PlanItem,
    meta: MessageMeta,
    source: Source,
    dog: Watchdog,
  ): Promise<MessageBody> {
    try {
      const opening = source.open(fp.source, meta);
      // A stalled open may still hand over a stream later: nobody reads it.
      opening.then(
        (s) => dog.error && s.destroy(),
        () => undefined,
      );
      const body = await dog.guard(opening);
      if (this.d.sourceCaps.lazyIdentity) learnIdentity(item, meta, body.learned);
      return body;
    } catch (err) {
      this.d.sessions.sources.release(source, brokeSession(err));
      throw err;
    }
  }

  /** Pipes the opened body into the sink and checks the sink stored the bytes that passed. */
  private async deliver(
    fp: FolderPlan,
    item: PlanItem,
    state: AttemptState,
    meta: MessageMeta,
    io: { source: Source; body: Readable; dog: Watchdog },
  ): Promise<Stored> {
    const { source, body, dog } = io;
    const { sources, sinks } = this.d.sessions;
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
      sink = await sinks.acquire();
      state.uncertain = true;
      const res = await this.append(sink, fp, item, meta, piped, dog);
      const sha = hasher.digest();
      if (res.sha256 && res.sha256 !== sha) {
        throw new MessageError('EMISMATCH', 'the sink stored different bytes than the source sent');
      }
      state.uncertain = false;
      sinks.release(sink);
      sources.release(source);
      const key = item.key ?? identityKey({ ...meta, sha256: sha });
      const droppedFlags = !!res.droppedFlags?.length;
      return res.id === undefined ? { key, droppedFlags } : { key, sinkId: res.id, droppedFlags };
    } catch (err) {
      // The sink must hear of a stall too: its append may still be waiting on the body.
      if (dog.error) piped.destroy(dog.error);
      body.destroy();
      // A body that broke on the source side never reached the server whole.
      if (sourceBroken) state.uncertain = false;
      if (sink) sinks.release(sink, !sourceBroken && brokeSession(err));
      sources.release(source, sourceBroken || brokeSession(err));
      throw err;
    }
  }

  private async append(
    sink: Sink,
    fp: FolderPlan,
    item: PlanItem,
    meta: MessageMeta,
    body: Readable,
    dog: Watchdog,
  ): Promise<AppendResult> {
    dog.phase = 'copying it to the sink';
    dog.touch();
    body.once('end', () => {
      dog.phase = 'waiting for the sink to store it';
    });
    const appending = sink.append({
      folder: fp.target.name,
      meta,
      flags: this.flagsFor(item),
      internalDate: item.internalDate ? new Date(item.internalDate) : undefined,
      body,
    });
    appending.catch(() => undefined);
    return dog.guard(appending);
  }

  private flagsFor(item: PlanItem): string[] {
    if (this.d.sourceCaps.keepsFlags) return item.flags;
    return this.d.unread ? [] : ['\\Seen'];
  }
}

/** Lazy sources (POP3) learn Message-ID and a date from the headers open() read. */
function learnIdentity(item: PlanItem, meta: MessageMeta, learned: LearnedIdentity | undefined): void {
  meta.messageId ??= learned?.messageId;
  meta.internalDate ??= learned?.internalDate;
  if (item.internalDate) return;
  if (meta.messageId) item.messageId = meta.messageId;
  // No Received or Date header: the copy is dated now, and the key records that date.
  item.internalDate = (meta.internalDate ?? new Date()).toISOString();
  item.key = identityKey({ ...meta, internalDate: new Date(item.internalDate) });
}

export function toMeta(item: PlanItem): MessageMeta {
  const m: MessageMeta = { id: item.id, size: item.size, flags: item.flags };
  if (item.internalDate) m.internalDate = new Date(item.internalDate);
  if (item.messageId) m.messageId = item.messageId;
  return m;
}
