import { checkTransferOptions, defaultTransferOptions, type TransferOptions } from '../config.js';
import type { Plan } from '../plan/diff.js';
import { buildPlan } from '../plan/gather.js';
import { withPreset } from '../providers.js';
import { Checkpoint } from '../run/checkpoint.js';
import type { Sink, Source } from '../types.js';
import { silentLogger } from '../util/log.js';
import { assertPathKind } from '../util/path-kinds.js';
import { type OpenedSide, openSink, openSource, prepareSide, type TransferRequest } from './common.js';

export interface Prepared {
  options: TransferOptions;
  src: OpenedSide;
  dst: OpenedSide;
  checkpoint: Checkpoint;
  source: Source;
  sink: Sink;
  plan: Plan;
}

/** Opens one session per side, loads the checkpoint and builds the plan; shared by plan, copy and verify. */
export async function prepareTransfer(
  sourceText: string,
  sinkText: string,
  req: TransferRequest,
): Promise<Prepared> {
  const options = transferOptionsOf(req);
  const src = prepareSide('source', sourceText, req, options.largeMessageBytes);
  const dst = prepareSide('sink', sinkText, req, options.largeMessageBytes);
  assertPathKind(options.stateDir, 'state directory', 'dir');
  const checkpoint = Checkpoint.load(options.stateDir, src.name, dst.name);
  // A server sink connects while the source does; a file sink (which creates files) waits
  // for the source. A failing source is reported first, as the one named first.
  const sourceOpen = openSource(src);
  const sinkOpen = dst.ctx.server ? openSink(dst) : sourceOpen.then(() => openSink(dst));
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
      log: req.log ?? silentLogger,
    });
    return { options, src, dst, checkpoint, source, sink, plan };
  } catch (err) {
    await Promise.allSettled([source.close(), sink.close()]);
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
