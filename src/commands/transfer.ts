import { checkTransferOptions, defaultTransferOptions, type TransferOptions } from '../config.js';
import type { Plan } from '../plan/diff.js';
import { buildPlan } from '../plan/gather.js';
import { withPreset } from '../providers.js';
import { Checkpoint, pairDir } from '../run/checkpoint.js';
import type { HeldLock } from '../run/lock.js';
import type { Sink, Source } from '../types.js';
import { type Logger, silentLogger } from '../util/log.js';
import { assertPathKind } from '../util/path-kinds.js';
import { type OpenedSide, openSink, openSource, prepareSide, type TransferRequest } from './common.js';
import { lockTransfer, releaseAll } from './locks.js';
import { refuseForSink, refuseForSource } from './refuse.js';

export interface Prepared {
  options: TransferOptions;
  src: OpenedSide;
  dst: OpenedSide;
  checkpoint: Checkpoint;
  source: Source;
  sink: Sink;
  plan: Plan;
  /** Held by a copy until it ends (release them); empty for plan and verify. */
  locks: HeldLock[];
}

export interface PrepareMode {
  /** Lock the pair and its archives first (copy): a second run on them exits 2. */
  lock?: boolean;
}

/** Opens one session per side, loads the checkpoint and builds the plan; shared by plan, copy and verify. */
export async function prepareTransfer(
  sourceText: string,
  sinkText: string,
  req: TransferRequest,
  mode: PrepareMode = {},
): Promise<Prepared> {
  const options = transferOptionsOf(req);
  const src = prepareSide('source', sourceText, req, options.largeMessageBytes);
  const dst = prepareSide('sink', sinkText, req, options.largeMessageBytes);
  assertPathKind(options.stateDir, 'state directory', 'dir');
  const log = req.log ?? silentLogger;
  const sides = [
    { side: 'source' as const, endpoint: src.endpoint, name: src.name },
    { side: 'sink' as const, endpoint: dst.endpoint, name: dst.name },
  ];
  const locks = mode.lock ? lockTransfer(pairDir(options.stateDir, src.name, dst.name), sides, log) : [];
  try {
    return await openAndPlan(options, req, src, dst, locks, log);
  } catch (err) {
    releaseAll(locks);
    throw err;
  }
}

async function openAndPlan(
  options: TransferOptions,
  given: Partial<TransferOptions>,
  src: OpenedSide,
  dst: OpenedSide,
  locks: HeldLock[],
  log: Logger,
): Promise<Prepared> {
  // Loaded once the pair is locked: a run that held it may have just finished writing.
  const checkpoint = Checkpoint.load(options.stateDir, src.name, dst.name);
  // A server sink connects while the source does; a file sink (which creates files) waits
  // for the source, and for its options to be checked. A failing source is reported first.
  const sourceOpen = openSource(src).then((s) => refusing(s, () => refuseForSource(given, s, src.name)));
  const sinkOpen = (dst.ctx.server ? openSink(dst) : sourceOpen.then(() => openSink(dst))).then((s) =>
    refusing(s, () => refuseForSink(given, s, dst.name)),
  );
  const [opened, openedSink] = await Promise.allSettled([sourceOpen, sinkOpen]);
  if (opened.status === 'rejected' || openedSink.status === 'rejected') {
    const alive = [opened, openedSink].flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    await Promise.allSettled(alive.map((s) => s.close()));
    throw opened.status === 'rejected' ? opened.reason : (openedSink as PromiseRejectedResult).reason;
  }
  const source = opened.value;
  const sink = openedSink.value;
  try {
    const plan = await buildPlan({
      source,
      sink,
      state: checkpoint.state,
      options,
      sourceName: src.name,
      sinkName: dst.name,
      log,
    });
    return { options, src, dst, checkpoint, source, sink, plan, locks };
  } catch (err) {
    await Promise.allSettled([source.close(), sink.close()]);
    throw err;
  }
}

/** Runs an option check on a fresh session, closing the session when it refuses. */
async function refusing<T extends { close(): Promise<void> }>(session: T, check: () => void): Promise<T> {
  try {
    check();
    return session;
  } catch (err) {
    await session.close().catch(() => undefined);
    throw err;
  }
}

/** The transfer options a request sets, over the defaults; connection settings stay out. */
export function transferOptionsOf(req: TransferRequest): TransferOptions {
  return withPreset(checkTransferOptions(defaultTransferOptions(stripUndefined(req))));
}

function stripUndefined<T extends object>(o: T): Partial<TransferOptions> {
  const keys: Array<keyof TransferOptions> = [
    'stateDir',
    'include',
    'exclude',
    'map',
    'folder',
    'since',
    'before',
    'connections',
    'maxMessagesPerSecond',
    'maxBytesPerSecond',
    'deleteSource',
    'unread',
    'dryRun',
    'includeAllMail',
    'gmailLabels',
    'provider',
    'retries',
    'maxThrottleMs',
    'largeMessageBytes',
  ];
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out as Partial<TransferOptions>;
}

/** `mailferry plan`: what copy would do; writes nothing. */
export async function plan(sourceText: string, sinkText: string, req: TransferRequest = {}): Promise<Plan> {
  const p = await prepareTransfer(sourceText, sinkText, req);
  await Promise.allSettled([p.source.close(), p.sink.close()]);
  return p.plan;
}
