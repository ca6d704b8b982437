import type { TransferOptions } from '../config.js';
import { FolderError } from '../errors.js';
import type { FolderInfo, FolderNamespace, MessageMeta, Source, SpecialUse } from '../types.js';
import { diffFolder, type FolderPlan, inDateRange } from './diff.js';
import {
  applyMap,
  type FolderMapping,
  findBySpecialUse,
  folderKey,
  folderName,
  included,
  logicalPath,
  parseMaps,
  sourceNs,
} from './folders.js';
import type { GatherInput } from './gather.js';
import { identityKey, KeyBag } from './identity.js';
import { labelTokens, placementOf } from './labels.js';

/**
 * Gmail (and any server with a `\All` folder, such as Dovecot's virtual plugin) holds every
 * message in All Mail, and a labelled one also in a folder per label. A message archived
 * without a label is only in All Mail. So the labelled folders are copied as usual and then,
 * from All Mail, exactly the messages no copied folder holds (folders mode); or every message
 * once, from All Mail, its labels carried as keywords (keywords mode).
 */
export interface AllMailSplit {
  /** Planned as usual. */
  regular: FolderMapping[];
  /** The source's `\All` folder, when its residual (or all of it) is planned here. */
  all?: FolderInfo;
  /** Keywords mode: folders read only as labels of the copies from All. */
  labels: FolderMapping[];
  mode: TransferOptions['gmailLabels'];
}

/** Where the plan reads the folders: the source's namespace and what planning already fetched. */
export interface AllMailContext {
  sinkFolders: FolderInfo[];
  sinkNs: FolderNamespace;
  sourceNs?: FolderNamespace;
  /** Inventories planning already fetched (date-filtered), by source folder name. */
  seen: ReadonlyMap<string, MessageMeta[]>;
}

/** Folders whose mail Gmail keeps out of All Mail: always copied as folders. */
const OUTSIDE_ALL = new Set<SpecialUse | undefined>(['\\Trash', '\\Junk']);

export function splitAllMail(
  srcFolders: FolderInfo[],
  mappings: FolderMapping[],
  options: TransferOptions,
  sourceNamespace?: FolderNamespace,
): AllMailSplit {
  const mode = options.gmailLabels;
  const copied = new Set(mappings.map((m) => m.source.name));
  const all = srcFolders.find(
    (f) =>
      f.specialUse === '\\All' &&
      f.selectable !== false &&
      !copied.has(f.name) &&
      included(f, sourceNs(f, sourceNamespace), options),
  );
  if (!all) return { regular: mappings, labels: [], mode };
  if (mode === 'folders') return { regular: mappings, all, labels: [], mode };
  const labels = mappings.filter((m) => !OUTSIDE_ALL.has(m.source.specialUse));
  return { regular: mappings.filter((m) => !labels.includes(m)), all, labels, mode };
}

/** The same message in two folders has one key: the server's own id where it has one. */
function keyOf(m: MessageMeta): string {
  return m.providerId ? `pid:${m.providerId}` : identityKey(m);
}

export async function planAllMail(
  input: GatherInput,
  split: AllMailSplit,
  ctx: AllMailContext,
): Promise<FolderPlan[]> {
  const all = split.all;
  if (!all) return [];
  try {
    const allMessages = await messagesOf(input.source, input.options, all, ctx);
    return split.mode === 'keywords'
      ? await keywordPlans(input, split, all, allMessages, ctx)
      : [await residualPlan(input, split, all, allMessages, ctx)];
  } catch (err) {
    if (!(err instanceof FolderError)) throw err;
    // Without every copied folder's contents the residual is unknown: none of it is copied.
    input.log.warn(`folder ${all.name} left out: ${err.message}`);
    const target = archiveTarget(all, ctx, input.options);
    return [{ ...emptyPlan(all, target), failed: { code: err.code, reason: err.message } }];
  }
}

/**
 * A multiset difference: All Mail minus every copied folder. Gmail lists a message with two
 * labels twice in folders and once in All Mail (nothing left); a Dovecot virtual folder lists
 * each folder's copy (nothing left either); what remains is only in All Mail.
 */
async function residualPlan(
  input: GatherInput,
  split: AllMailSplit,
  all: FolderInfo,
  allMessages: MessageMeta[],
  ctx: AllMailContext,
): Promise<FolderPlan> {
  const residual = await residualOf(input.source, split, allMessages, ctx, input.options);
  return diffAgainst(input, all, archiveTarget(all, ctx, input.options), residual);
}

/** All Mail's messages that no copied folder holds; verify reads the same. */
export async function residualOf(
  source: Source,
  split: AllMailSplit,
  allMessages: MessageMeta[],
  ctx: AllMailContext,
  options: TransferOptions,
): Promise<MessageMeta[]> {
  const bag = new KeyBag();
  for (const m of split.regular)
    for (const x of await messagesOf(source, options, m.source, ctx)) bag.add(keyOf(x));
  return allMessages.filter((x) => !bag.take(keyOf(x)));
}

/** Where verify looks for the residual, and what it is: undefined without an All folder to read. */
export async function residualTarget(
  source: Source,
  split: AllMailSplit,
  ctx: AllMailContext,
  options: TransferOptions,
): Promise<{ target: FolderMapping; messages: MessageMeta[] } | undefined> {
  if (!split.all || split.mode !== 'folders') return undefined;
  const allMessages = await messagesOf(source, options, split.all, ctx);
  const messages = await residualOf(source, split, allMessages, ctx, options);
  return { target: archiveTarget(split.all, ctx, options), messages };
}

async function keywordPlans(
  input: GatherInput,
  split: AllMailSplit,
  all: FolderInfo,
  allMessages: MessageMeta[],
  ctx: AllMailContext,
): Promise<FolderPlan[]> {
  // Which folders hold each message: its labels where the server gives none (not Gmail).
  const holders = new Map<string, Set<string>>();
  const byFolder = new Map<FolderMapping, MessageMeta[]>();
  for (const m of split.labels) {
    const messages = await messagesOf(input.source, input.options, m.source, ctx);
    byFolder.set(m, messages);
    const token = folderToken(m.source, ctx.sourceNs);
    for (const x of messages) {
      const k = keyOf(x);
      holders.set(k, (holders.get(k) ?? new Set()).add(token));
    }
  }
  const once = new Set<string>();
  const groups = new Map<string, { target: FolderMapping; messages: MessageMeta[] }>();
  for (const x of allMessages) {
    const k = keyOf(x);
    if (once.has(k)) continue;
    once.add(k);
    const tokens = x.labels ? labelTokens(x.labels) : [...(holders.get(k) ?? [])];
    const { place, keywords, flagged } = placementOf(tokens);
    const flags = new Set([...x.flags, ...keywords, ...(flagged ? ['\\Flagged'] : [])]);
    const target = placeTarget(place, all, ctx, input.options);
    const group = groups.get(target.target.name) ?? { target, messages: [] };
    group.messages.push({ ...x, flags: [...flags] });
    groups.set(target.target.name, group);
  }
  const plans: FolderPlan[] = [];
  for (const g of groups.values()) plans.push(await diffAgainst(input, all, g.target, g.messages));
  // A labelled message All Mail lacks is still copied, from its folder: none lost.
  for (const [m, messages] of byFolder) {
    const missing = messages.filter((x) => !once.has(keyOf(x)));
    if (missing.length) plans.push(await diffAgainst(input, m.source, m, missing));
  }
  return plans;
}

/** INBOX, a special use, or the folder's path: what placementOf() reads. */
function folderToken(f: FolderInfo, ns: FolderNamespace | undefined): string {
  if (folderKey(f.name) === 'INBOX') return 'INBOX';
  if (f.specialUse) return f.specialUse;
  return logicalPath(f.name, sourceNs(f, ns)).join('/');
}

async function messagesOf(
  source: Source,
  options: TransferOptions,
  f: FolderInfo,
  ctx: AllMailContext,
): Promise<MessageMeta[]> {
  const known = ctx.seen.get(f.name);
  if (known) return known;
  const inv = await source.inventory(f);
  return inv.messages.filter((x) => inDateRange(x, options.since, options.before));
}

async function diffAgainst(
  input: GatherInput,
  src: FolderInfo,
  m: FolderMapping,
  messages: MessageMeta[],
): Promise<FolderPlan> {
  const sinkInv = m.create ? undefined : await input.sink.inventory(m.target.name);
  const diff = diffFolder({ folder: src, messages }, sinkInv, input.state.knownIn(src.name), {
    compareFlags: input.source.capabilities.keepsFlags && input.sink.capabilities.keepsFlags && !!sinkInv,
  });
  // An empty residual creates nothing at the sink.
  return { ...emptyPlan(src, m), create: m.create && diff.copy.length > 0, ...diff };
}

function emptyPlan(src: FolderInfo, m: FolderMapping): FolderPlan {
  return {
    source: src,
    target: m.target,
    create: m.create,
    copy: [],
    present: [],
    flagUpdates: [],
    skipped: [],
  };
}

/**
 * Where All Mail's own messages land: a `--map` of the All folder, else the sink's archive
 * (`\Archive`, a folder named Archive, or Gmail's `[Gmail]/All Mail`), else a new `Archive`.
 */
function archiveTarget(all: FolderInfo, ctx: AllMailContext, options: TransferOptions): FolderMapping {
  const mapped = applyMap(all, sourceNs(all, ctx.sourceNs), parseMaps(options.map));
  if (mapped) return targetNamed(all, folderName(mapped, ctx.sinkNs), undefined, ctx);
  return specialTarget(all, '\\Archive', 'Archive', ctx);
}

function placeTarget(
  place: 'INBOX' | SpecialUse,
  all: FolderInfo,
  ctx: AllMailContext,
  options: TransferOptions,
): FolderMapping {
  if (place === 'INBOX') return targetNamed(all, 'INBOX', undefined, ctx);
  if (place === '\\Archive') return archiveTarget(all, ctx, options);
  return specialTarget(all, place, place.slice(1), ctx);
}

function specialTarget(
  all: FolderInfo,
  use: SpecialUse,
  fallback: string,
  ctx: AllMailContext,
): FolderMapping {
  const found = findBySpecialUse(use, ctx.sinkFolders, ctx.sinkNs);
  return targetNamed(all, found?.name ?? folderName([fallback], ctx.sinkNs), use, ctx);
}

function targetNamed(
  all: FolderInfo,
  name: string,
  use: SpecialUse | undefined,
  ctx: AllMailContext,
): FolderMapping {
  const found = ctx.sinkFolders.find((f) => folderKey(f.name) === folderKey(name));
  const target: FolderInfo = {
    name: found?.name ?? name,
    delimiter: found?.delimiter ?? ctx.sinkNs.delimiter,
  };
  const specialUse = found ? found.specialUse : use;
  if (specialUse) target.specialUse = specialUse;
  return { source: all, target, create: !found };
}
