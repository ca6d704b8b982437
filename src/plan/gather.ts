import { createHash } from 'node:crypto';
import type { TransferOptions } from '../config.js';
import { FolderError } from '../errors.js';
import type { CheckpointState, FolderRecord } from '../run/checkpoint.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderNamespace,
  FolderStatus,
  MessageMeta,
  Sink,
  Source,
} from '../types.js';
import type { Logger } from '../util/log.js';
import { printable } from '../util/secrets.js';
import { planAllMail, splitAllMail } from './all-mail.js';
import { diffFolder, type FolderPlan, inDateRange, type Plan, planTotals, sourceKey } from './diff.js';
import { type FolderMapping, mapFolders } from './folders.js';
import { skipOverProviderLimit } from './provider-limits.js';

export interface GatherInput {
  source: Source;
  sink: Sink;
  state: CheckpointState;
  options: TransferOptions;
  sourceName: string;
  sinkName: string;
  log: Logger;
  /** Inventories fetched while planning, by source folder: the All Mail residual reads them. */
  seen?: Map<string, MessageMeta[]>;
}

/** Reads both sides and the checkpoint, then hands plain data to the pure diff. */
export async function buildPlan(input: GatherInput): Promise<Plan> {
  const { source, sink, options } = input;
  const [srcFolders, sinkFolders] = await Promise.all([source.listFolders(), sink.listFolders()]);
  const mappings = mapFolders(
    srcFolders,
    sinkFolders,
    namespaceOf(sink, sinkFolders),
    source.capabilities.hasFolders,
    options,
    source.namespace,
  );
  const split = splitAllMail(srcFolders, mappings, options, source.namespace);
  const seen = new Map<string, MessageMeta[]>();
  const folders: FolderPlan[] = [];
  for (const m of split.regular) folders.push(await planOrFail({ ...input, seen }, m));
  const sinkNs = namespaceOf(sink, sinkFolders);
  const ctx = { sinkFolders, sinkNs, seen, ...(source.namespace && { sourceNs: source.namespace }) };
  folders.push(...(await planAllMail(input, split, ctx)));
  skipOverProviderLimit(folders, options);
  return {
    version: 1,
    source: input.sourceName,
    sink: input.sinkName,
    createdAt: new Date().toISOString(),
    folders,
    totals: planTotals(folders),
  };
}

/** An endpoint's personal namespace; without one, no prefix and INBOX's (else any folder's) delimiter. */
export function namespaceOf(side: Source | Sink, folders: FolderInfo[]): FolderNamespace {
  if (side.namespace) return side.namespace;
  const delimiter =
    folders.find((f) => f.name.toUpperCase() === 'INBOX')?.delimiter ?? folders[0]?.delimiter ?? '/';
  return { prefix: '', delimiter };
}

/** Same UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ as when the folder last completed: nothing to fetch. */
function unchangedSince(rec: FolderRecord | undefined, now: FolderStatus | undefined): boolean {
  return (
    !!rec && sameMessages(rec.status, now) && (rec.status.highestModseq ?? '') === (now?.highestModseq ?? '')
  );
}

/** Same UIDVALIDITY, UIDNEXT and message count: nothing was added or removed since. */
function sameMessages(was: FolderStatus, now: FolderStatus | undefined): boolean {
  if (!now || now.uidValidity === undefined || now.uidNext === undefined) return false;
  return was.uidValidity === now.uidValidity && was.uidNext === now.uidNext && was.messages === now.messages;
}

/** A folder that cannot be read fails alone: the others are still planned and copied. */
async function planOrFail(input: GatherInput, m: FolderMapping): Promise<FolderPlan> {
  try {
    return await planFolder(input, m);
  } catch (err) {
    if (!(err instanceof FolderError)) throw err;
    input.log.warn(`folder ${printable(m.source.name)} left out: ${err.message}`);
    return {
      source: m.source,
      target: m.target,
      create: false,
      copy: [],
      present: [],
      flagUpdates: [],
      skipped: [],
      failed: { code: err.code, reason: err.message },
    };
  }
}

async function planFolder(input: GatherInput, m: FolderMapping): Promise<FolderPlan> {
  const { source, sink, state, options } = input;
  const rec = state.folders.get(m.source.name);
  const status = await source.folderStatus?.(m.source);
  const base: FolderPlan = {
    source: m.source,
    target: m.target,
    create: m.create,
    copy: [],
    present: [],
    flagUpdates: [],
    skipped: [],
  };
  if (status) base.sourceStatus = status;
  if (!m.create && unchangedSince(rec, status)) {
    input.log.debug(`${m.source.name}: unchanged since the last run`);
    return { ...base, unchanged: true };
  }
  const inv = await source.inventory(m.source);
  if (!base.sourceStatus) base.sourceStatus = statusOf(inv);
  inv.messages = inv.messages.filter((x) => inDateRange(x, options.since, options.before));
  if (!status) base.sourceStatus = { ...base.sourceStatus!, ids: idsDigest(inv) };
  input.seen?.set(m.source.name, inv.messages);
  const known = state.knownIn(m.source.name);
  if (!m.create && !status && (await copiedBefore(input, m, base.sourceStatus!, rec))) {
    input.log.debug(`${m.source.name}: every message was copied before and the sink is as that run left it`);
    return { ...base, unchanged: true };
  }
  const sinkInv = m.create ? undefined : await sink.inventory(m.target.name);
  if (source.capabilities.lazyIdentity && sinkInv?.messages.length && source.identify) {
    const unknown = inv.messages.filter((x) => !sourceKey(x, known.get(x.id)));
    if (unknown.length) await source.identify(m.source, unknown);
  }
  const diff = diffFolder(inv, sinkInv, known, {
    compareFlags: source.capabilities.keepsFlags && sink.capabilities.keepsFlags && !!sinkInv,
  });
  return { ...base, ...diff, skipped: inv.skipped ?? [] };
}

/**
 * For a source with no cheap folder state (POP3): the same messages as when a run last
 * completed this folder, and the sink folder's STATUS as that run left it, so nobody removed
 * a copy since. Then the sink's inventory (a FETCH of every message) is not needed. Not with
 * --delete-source, whose deletions need the copies confirmed, nor for sources with flags.
 */
async function copiedBefore(
  input: GatherInput,
  m: FolderMapping,
  now: FolderStatus,
  rec: FolderRecord | undefined,
): Promise<boolean> {
  const { source, sink, options } = input;
  if (!rec?.sink || !sink.folderStatus || options.deleteSource || source.capabilities.keepsFlags)
    return false;
  if (!now.ids || now.ids !== rec.status.ids) return false;
  return sameMessages(rec.sink, await sink.folderStatus(m.target.name));
}

/** Order-free digest of the message ids a run covers. */
function idsDigest(inv: FolderInventory): string {
  const ids = inv.messages.map((x) => x.id).sort();
  return createHash('sha256').update(ids.join('\n')).digest('base64url');
}

function statusOf(inv: FolderInventory): FolderStatus {
  const s: FolderStatus = { messages: inv.messages.length };
  if (inv.uidValidity !== undefined) s.uidValidity = inv.uidValidity;
  if (inv.uidNext !== undefined) s.uidNext = inv.uidNext;
  if (inv.highestModseq !== undefined) s.highestModseq = inv.highestModseq;
  return s;
}
