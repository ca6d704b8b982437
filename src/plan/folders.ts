import { UsageError } from '../errors.js';
import { folderKey, isInbox } from '../mail/folder-key.js';
import type { FolderInfo, FolderNamespace, SpecialUse } from '../types.js';

export { folderKey };

export interface FolderMapOptions {
  include: string[];
  exclude: string[];
  map: string[];
  /** Target for sources without folders (POP3). */
  folder: string;
  includeAllMail: boolean;
}

export interface FolderMapping {
  source: FolderInfo;
  /** Target folder, named with the sink's delimiter. */
  target: FolderInfo;
  /** The target does not exist at the sink yet. */
  create: boolean;
}

/** Well-known names tried when the sink has no folder with the special-use attribute. */
const WELL_KNOWN: Partial<Record<SpecialUse, string[]>> = {
  '\\Sent': ['Sent', 'Sent Items', 'Sent Messages', 'Sent Mail', '[Gmail]/Sent Mail', 'Gesendet'],
  '\\Drafts': ['Drafts', '[Gmail]/Drafts', 'Entwürfe'],
  '\\Trash': ['Trash', 'Deleted Items', 'Deleted Messages', '[Gmail]/Trash', 'Bin', 'Papierkorb'],
  '\\Junk': ['Junk', 'Spam', 'Junk E-mail', 'Junk Email', '[Gmail]/Spam'],
  '\\Archive': ['Archive', 'Archives', '[Gmail]/All Mail'],
};

/**
 * Folder globs: `*` matches anything (delimiters too), `%` anything but a delimiter, `?` one
 * character. Case-sensitive like folder names, except a leading INBOX.
 */
export function globToRegExp(glob: string, delimiter = '/'): RegExp {
  let re = '';
  for (const ch of leadingInbox(glob, delimiter)) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += `[^${escapeRe(delimiter)}]*`;
    else if (ch === '?') re += '.';
    else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`, 'u');
}

/** `inbox` or `inbox/...` spelled `INBOX`: the one case-insensitive name. */
function leadingInbox(name: string, delimiter: string): string {
  const head = name.slice(0, 5);
  const next = name.charAt(5);
  return isInbox(head) && (next === '' || next === delimiter) ? `INBOX${name.slice(5)}` : name;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export function parseMaps(map: string[]): Array<[string, string]> {
  return map.map((m) => {
    const i = m.indexOf('=');
    if (i <= 0 || i === m.length - 1) {
      throw new UsageError(`bad --map '${m}'`, {
        hint: "write --map 'FROM=TO', e.g. --map 'Sent Items=Sent'",
      });
    }
    return [m.slice(0, i), m.slice(i + 1)];
  });
}

/** Printable ASCII has full-width forms (U+FF01-U+FF5E): the stand-in for a delimiter inside a name. */
export function standIn(delimiter: string): string {
  const c = delimiter.codePointAt(0) ?? 0;
  return delimiter.length === 1 && c > 0x20 && c < 0x7f ? String.fromCodePoint(c + 0xfee0) : '_';
}

/**
 * A folder's logical path: the personal prefix removed, split by the delimiter, and a stand-in
 * for the delimiter turned back into it. `INBOX.Archive.2023` on Cyrus and `Archive/2023` on
 * Dovecot are both ['Archive', '2023']. INBOX is case-insensitive, every other name is not.
 */
export function logicalPath(name: string, ns: FolderNamespace): string[] {
  if (isInbox(name)) return ['INBOX'];
  const rest = ns.prefix && name.startsWith(ns.prefix) ? name.slice(ns.prefix.length) : name;
  const d = ns.delimiter;
  const back = d.length === 1 ? standIn(d) : undefined;
  const path = (d ? rest.split(d) : [rest]).map((seg) =>
    back && back !== '_' ? seg.split(back).join(d) : seg,
  );
  if (path.length > 1 && rest === name && isInbox(path[0]!)) path[0] = 'INBOX';
  return path;
}

/**
 * A logical path spelled for one side: its prefix, its delimiter between segments, and the
 * delimiter inside a segment written as its full-width stand-in ('.' as '．' U+FF0E, '/' as
 * '／' U+FF0F), which logicalPath() reads back: stable and reversible across re-runs.
 */
export function folderName(path: readonly string[], ns: FolderNamespace): string {
  if (path.length === 1 && isInbox(path[0]!)) return 'INBOX';
  const d = ns.delimiter || '/';
  const sub = standIn(d);
  return ns.prefix + path.map((seg) => seg.split(d).join(sub)).join(d);
}

/** Re-spells a name for the sink: segments kept, delimiter swapped, a clashing character stood in for. */
export function convertName(name: string, from: string, to: string): string {
  return folderName(logicalPath(name, { prefix: '', delimiter: from }), { prefix: '', delimiter: to });
}

export function sourceNs(f: FolderInfo, ns: FolderNamespace | undefined): FolderNamespace {
  return { prefix: ns?.prefix ?? '', delimiter: f.delimiter };
}

export function applyMap(
  src: FolderInfo,
  ns: FolderNamespace,
  maps: Array<[string, string]>,
): string[] | undefined {
  const path = logicalPath(src.name, ns);
  const spellings = [src.name, path.join(src.delimiter)];
  for (const [from, to] of maps) {
    const fromPath = logicalPath(from, ns);
    if (spellings.some((n) => folderKey(n) === folderKey(from))) return logicalPath(to, ns);
    // A mapped parent takes its children along.
    if (fromPath.length < path.length && fromPath.every((seg, i) => folderKey(seg) === folderKey(path[i]!)))
      return [...logicalPath(to, ns), ...path.slice(fromPath.length)];
  }
  return undefined;
}

export function findBySpecialUse(
  use: SpecialUse,
  sinkFolders: FolderInfo[],
  ns: FolderNamespace,
): FolderInfo | undefined {
  const byAttr = sinkFolders.find((f) => f.specialUse === use);
  if (byAttr) return byAttr;
  const names = (WELL_KNOWN[use] ?? []).map((n) => n.toLowerCase());
  return sinkFolders.find((f) =>
    names.includes(
      logicalPath(f.name, { ...ns, delimiter: f.delimiter })
        .join('/')
        .toLowerCase(),
    ),
  );
}

/**
 * Chooses which source folders to copy and the sink folder each lands in. Names travel as
 * logical paths (see logicalPath): the source's personal prefix and delimiter come off, the
 * sink's go on. `sink` is the sink's namespace (a bare delimiter means no prefix); without
 * `sourceNamespace` source names have no prefix.
 */
export function mapFolders(
  sourceFolders: FolderInfo[],
  sinkFolders: FolderInfo[],
  sink: string | FolderNamespace,
  sourceHasFolders: boolean,
  opts: FolderMapOptions,
  sourceNamespace?: FolderNamespace,
): FolderMapping[] {
  const sinkNs = typeof sink === 'string' ? { prefix: '', delimiter: sink } : sink;
  const maps = parseMaps(opts.map);
  const existing = new Map(sinkFolders.map((f) => [folderKey(f.name), f]));
  const selectable = sourceFolders.filter((f) => f.selectable !== false);
  const hasOthers = selectable.some((f) => f.specialUse !== '\\All');
  const out: FolderMapping[] = [];
  for (const src of selectable) {
    if (!sourceHasFolders) {
      out.push(mapping(src, targetFolder(opts.folder, sinkNs), undefined, existing, src.subscribed, sinkNs));
      continue;
    }
    const ns = sourceNs(src, sourceNamespace);
    if (!included(src, ns, opts)) continue;
    if (src.specialUse === '\\All' && hasOthers && !opts.includeAllMail) continue;
    const mapped = applyMap(src, ns, maps);
    let targetName: string;
    let specialUse = src.specialUse;
    if (mapped !== undefined) {
      targetName = folderName(mapped, sinkNs);
    } else if (src.specialUse && src.specialUse !== '\\All' && src.specialUse !== '\\Flagged') {
      const found = findBySpecialUse(src.specialUse, sinkFolders, sinkNs);
      targetName = found ? found.name : folderName(logicalPath(src.name, ns), sinkNs);
    } else {
      targetName = folderName(logicalPath(src.name, ns), sinkNs);
      specialUse = undefined;
    }
    out.push(mapping(src, targetName, specialUse, existing, src.subscribed, sinkNs));
  }
  return out;
}

/** --folder is written as the sink spells names; the sink's prefix is added when it is missing. */
function targetFolder(name: string, ns: FolderNamespace): string {
  if (isInbox(name) || !ns.prefix || name.startsWith(ns.prefix)) return folderKey(name);
  return ns.prefix + name;
}

function mapping(
  src: FolderInfo,
  name: string,
  specialUse: SpecialUse | undefined,
  existing: Map<string, FolderInfo>,
  subscribed: boolean | undefined,
  ns: FolderNamespace,
): FolderMapping {
  const found = existing.get(folderKey(name));
  const target: FolderInfo = {
    name: found?.name ?? name,
    delimiter: found?.delimiter ?? (ns.delimiter || '/'),
  };
  const use = found?.specialUse ?? specialUse;
  if (use) target.specialUse = use;
  if (subscribed !== undefined) target.subscribed = subscribed;
  return { source: src, target, create: !found };
}

/** Globs match the name as the source spells it, or its logical path with the source's delimiter. */
export function included(f: FolderInfo, ns: FolderNamespace, opts: FolderMapOptions): boolean {
  const names = [f.name, logicalPath(f.name, ns).join(f.delimiter)];
  const matches = (g: string) =>
    names.some((n) => globToRegExp(g, f.delimiter).test(leadingInbox(n, f.delimiter)));
  if (opts.include.length && !opts.include.some(matches)) return false;
  return !opts.exclude.some(matches);
}
