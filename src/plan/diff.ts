import type { FolderInfo, FolderInventory, FolderStatus, MessageMeta } from '../types.js';
import { identityKey } from './identity.js';

/** One message the plan will copy; plain data so `plan --json` prints exactly what `copy` runs. */
export interface PlanItem {
  id: string;
  size: number;
  flags: string[];
  internalDate?: string;
  messageId?: string;
  /** Identity key when known at planning time (lazy sources learn it while copying). */
  key?: string;
}

export interface Matched {
  id: string;
  sinkId: string;
  key: string;
}

export interface FlagUpdate {
  id: string;
  sinkId: string;
  flags: string[];
}

export interface FolderPlan {
  source: FolderInfo;
  target: FolderInfo;
  create: boolean;
  copy: PlanItem[];
  present: Matched[];
  flagUpdates: FlagUpdate[];
  skipped: Array<{ id: string; reason: string }>;
  /** Source state when inventoried; recorded once the folder completes, for the next incremental run. */
  sourceStatus?: FolderStatus;
  /** Nothing changed since the last complete run: no inventory was fetched. */
  unchanged?: boolean;
  /** The folder could not be read (a FolderError while planning): none of it is copied. */
  failed?: { code: string; reason: string };
}

export interface Plan {
  version: 1;
  source: string;
  sink: string;
  createdAt: string;
  folders: FolderPlan[];
  totals: {
    folders: number;
    copy: number;
    copyBytes: number;
    present: number;
    flagUpdates: number;
    skipped: number;
  };
}

/** What an earlier run recorded for a source message: the key it copied under. */
export interface KnownCopy {
  key: string;
  sinkId?: string;
}

/** Flags compared as sets; \Recent is session state, never copied. */
export function normalizeFlags(flags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const f of flags) if (f.toLowerCase() !== '\\recent') out.add(f);
  return [...out].sort();
}

function sameFlags(a: readonly string[], b: readonly string[]): boolean {
  const x = normalizeFlags(a);
  const y = normalizeFlags(b);
  return x.length === y.length && x.every((f, i) => f.toLowerCase() === y[i]!.toLowerCase());
}

export function sourceKey(m: MessageMeta, known?: KnownCopy): string | undefined {
  if (m.messageId || m.internalDate || m.sha256) return identityKey(m);
  return known?.key;
}

/**
 * The pure diff of one folder: a multiset match of source against sink by identity.
 * Messages the sink holds are present (the sink is the truth; the checkpoint only lends
 * keys for sources that learn identity lazily); the rest are copied.
 */
export function diffFolder(
  src: FolderInventory,
  sink: FolderInventory | undefined,
  known: ReadonlyMap<string, KnownCopy>,
  opts: { compareFlags: boolean },
): Pick<FolderPlan, 'copy' | 'present' | 'flagUpdates'> {
  const { pairs, unmatched } = pairMessages(
    src.messages,
    sink?.messages ?? [],
    (m) => sourceKey(m, known.get(m.id)),
    (m) => known.get(m.id)?.sinkId,
  );
  const present: Matched[] = [];
  const flagUpdates: FlagUpdate[] = [];
  for (const { m, hit, key } of pairs) {
    present.push({ id: m.id, sinkId: hit.id, key });
    if (opts.compareFlags && !sameFlags(m.flags, hit.flags)) {
      flagUpdates.push({ id: m.id, sinkId: hit.id, flags: normalizeFlags(m.flags) });
    }
  }
  return { copy: unmatched.map(({ m, key }) => toItem(m, key)), present, flagUpdates };
}

export interface Pairing {
  pairs: Array<{ m: MessageMeta; hit: MessageMeta; key: string }>;
  unmatched: Array<{ m: MessageMeta; key: string | undefined }>;
  /** Sink messages no source message took. */
  leftover: MessageMeta[];
}

/**
 * The multiset match of source against sink by identity, shared by plan and verify.
 * A second pass takes the same Message-ID at a near size: a server may rewrite odd line
 * endings on APPEND (Dovecot turns CR CR LF into CR LF), so a stored copy can be a little
 * smaller than its source; without this every re-run would copy it again. A message without
 * a Message-ID is taken the same way when both sides carry the same internal date (the one we
 * appended with): Courier drops lone CRs and ends a message with CRLF (an empty one becomes
 * CRLF), and a header of lone-CR lines yields no Message-ID to match on.
 */
export function pairMessages(
  src: MessageMeta[],
  sink: MessageMeta[],
  keyOf: (m: MessageMeta) => string | undefined,
  preferredSinkId: (m: MessageMeta) => string | undefined = () => undefined,
): Pairing {
  const bySinkKey = groupBy(sink, identityKey);
  const pairs: Pairing['pairs'] = [];
  const first: Pairing['unmatched'] = [];
  for (const m of src) {
    const key = keyOf(m);
    const candidates = key ? bySinkKey.get(key) : undefined;
    const hit = candidates?.length ? takePreferred(candidates, preferredSinkId(m)) : undefined;
    if (hit && key) pairs.push({ m, hit, key });
    else first.push({ m, key });
  }
  const leftovers = groupBy([...bySinkKey.values()].flat(), (x) => x.messageId ?? '');
  const unmatched: Pairing['unmatched'] = [];
  for (const { m, key } of first) {
    const mid = m.messageId ?? (key ? midOfKey(key) : undefined);
    const list = mid ? leftovers.get(mid) : leftovers.get('');
    const i = list ? list.findIndex((x) => closeInSize(m.size, x.size) && (mid || sameSecond(m, x))) : -1;
    if (list && i >= 0 && key) pairs.push({ m, hit: list.splice(i, 1)[0]!, key });
    else unmatched.push({ m, key });
  }
  return { pairs, unmatched, leftover: [...leftovers.values()].flat() };
}

function groupBy(list: MessageMeta[], key: (m: MessageMeta) => string): Map<string, MessageMeta[]> {
  const out = new Map<string, MessageMeta[]>();
  for (const m of list) {
    const k = key(m);
    const l = out.get(k);
    if (l) l.push(m);
    else out.set(k, [m]);
  }
  return out;
}

function sameSecond(a: MessageMeta, b: MessageMeta): boolean {
  if (!a.internalDate || !b.internalDate || b.messageId) return false;
  return Math.floor(a.internalDate.getTime() / 1000) === Math.floor(b.internalDate.getTime() / 1000);
}

function midOfKey(key: string): string | undefined {
  if (!key.startsWith('mid:')) return undefined;
  return key.slice(4, key.lastIndexOf(':'));
}

/** How far a server's rewriting of line endings may move a message's size. */
export function closeInSize(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(64, Math.ceil(Math.max(a, b) * 0.02));
}

function takePreferred(list: MessageMeta[], sinkId: string | undefined): MessageMeta {
  const i = sinkId ? list.findIndex((m) => m.id === sinkId) : -1;
  return list.splice(Math.max(i, 0), 1)[0]!;
}

function toItem(m: MessageMeta, key: string | undefined): PlanItem {
  const item: PlanItem = { id: m.id, size: m.size, flags: normalizeFlags(m.flags) };
  if (m.internalDate) item.internalDate = m.internalDate.toISOString();
  if (m.messageId) item.messageId = m.messageId;
  if (key) item.key = key;
  return item;
}

export function planTotals(folders: FolderPlan[]): Plan['totals'] {
  const t = { folders: folders.length, copy: 0, copyBytes: 0, present: 0, flagUpdates: 0, skipped: 0 };
  for (const f of folders) {
    t.copy += f.copy.length;
    t.copyBytes += f.copy.reduce((s, m) => s + m.size, 0);
    t.present += f.unchanged ? (f.sourceStatus?.messages ?? 0) : f.present.length;
    t.flagUpdates += f.flagUpdates.length;
    t.skipped += f.skipped.length;
  }
  return t;
}

/** --since / --before on the internal date; messages without a date are kept. */
export function inDateRange(m: MessageMeta, since?: Date, before?: Date): boolean {
  if (!m.internalDate) return true;
  if (since && m.internalDate < since) return false;
  if (before && m.internalDate >= before) return false;
  return true;
}
