import { UsageError } from '../errors.js';
import type { FolderInfo, SpecialUse } from '../types.js';

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

/** Folder globs: `*` matches anything (delimiters too), `%` anything but a delimiter, `?` one character. */
export function globToRegExp(glob: string, delimiter = '/'): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += `[^${escapeRe(delimiter)}]*`;
    else if (ch === '?') re += '.';
    else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`, 'iu');
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

function isInbox(name: string): boolean {
  return name.toUpperCase() === 'INBOX';
}

/** Re-spells a name for the sink: segments kept, delimiter swapped, a clashing character replaced. */
export function convertName(name: string, from: string, to: string): string {
  if (isInbox(name)) return 'INBOX';
  const segments = from ? name.split(from) : [name];
  const out = segments.map((s) => (to && from !== to ? s.split(to).join('_') : s)).join(to || '/');
  return out.replace(/^inbox(?=[^a-z0-9])/i, 'INBOX');
}

function applyMap(name: string, delimiter: string, maps: Array<[string, string]>): string | undefined {
  for (const [from, to] of maps) {
    if (name.toLowerCase() === from.toLowerCase()) return to;
    const prefix = from + delimiter;
    if (name.toLowerCase().startsWith(prefix.toLowerCase()))
      return to + delimiter + name.slice(prefix.length);
  }
  return undefined;
}

function findBySpecialUse(use: SpecialUse, sinkFolders: FolderInfo[]): FolderInfo | undefined {
  const byAttr = sinkFolders.find((f) => f.specialUse === use);
  if (byAttr) return byAttr;
  const names = (WELL_KNOWN[use] ?? []).map((n) => n.toLowerCase());
  return sinkFolders.find((f) => names.includes(f.name.toLowerCase()));
}

/** Chooses which source folders to copy and the sink folder each lands in. */
export function mapFolders(
  sourceFolders: FolderInfo[],
  sinkFolders: FolderInfo[],
  sinkDelimiter: string,
  sourceHasFolders: boolean,
  opts: FolderMapOptions,
): FolderMapping[] {
  const maps = parseMaps(opts.map);
  const existing = new Map(sinkFolders.map((f) => [f.name.toLowerCase(), f]));
  const selectable = sourceFolders.filter((f) => f.selectable !== false);
  const hasOthers = selectable.some((f) => f.specialUse !== '\\All');
  const out: FolderMapping[] = [];
  for (const src of selectable) {
    if (!sourceHasFolders) {
      out.push(mapping(src, opts.folder, undefined, existing, src.subscribed));
      continue;
    }
    if (!included(src, opts)) continue;
    if (src.specialUse === '\\All' && hasOthers && !opts.includeAllMail) continue;
    const mapped = applyMap(src.name, src.delimiter, maps);
    let targetName: string;
    let specialUse = src.specialUse;
    if (mapped !== undefined) {
      targetName = convertName(mapped, src.delimiter, sinkDelimiter);
    } else if (src.specialUse && src.specialUse !== '\\All' && src.specialUse !== '\\Flagged') {
      const found = findBySpecialUse(src.specialUse, sinkFolders);
      targetName = found ? found.name : convertName(src.name, src.delimiter, sinkDelimiter);
    } else {
      targetName = convertName(src.name, src.delimiter, sinkDelimiter);
      specialUse = undefined;
    }
    out.push(mapping(src, targetName, specialUse, existing, src.subscribed, sinkDelimiter));
  }
  return out;
}

function mapping(
  src: FolderInfo,
  name: string,
  specialUse: SpecialUse | undefined,
  existing: Map<string, FolderInfo>,
  subscribed: boolean | undefined,
  delimiter = '/',
): FolderMapping {
  const found = existing.get(name.toLowerCase());
  const target: FolderInfo = { name: found?.name ?? name, delimiter: found?.delimiter ?? delimiter };
  const use = found?.specialUse ?? specialUse;
  if (use) target.specialUse = use;
  if (subscribed !== undefined) target.subscribed = subscribed;
  return { source: src, target, create: !found };
}

function included(f: FolderInfo, opts: FolderMapOptions): boolean {
  const matches = (g: string) => globToRegExp(g, f.delimiter).test(f.name);
  if (opts.include.length && !opts.include.some(matches)) return false;
  return !opts.exclude.some(matches);
}
