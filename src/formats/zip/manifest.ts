import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { SpecialUse } from '../../types.js';

/**
 * The manifest is the archive's last entry, one JSON object per line, so a restore (or a
 * person with unzip and jq) gets back what a .eml file cannot carry: folders with their
 * special use and subscription, and per message its flags, internal date and checksums.
 */
export const MANIFEST_NAME = 'mailferry-manifest.jsonl';
export const MANIFEST_FORMAT = 'mailferry-zip';

export interface ManifestFolder {
  type: 'folder';
  name: string;
  delimiter: string;
  /** Entry path of the folder's directory inside the archive. */
  path: string;
  specialUse?: SpecialUse;
  subscribed?: boolean;
}

export interface ManifestMessage {
  type: 'message';
  entry: string;
  folder: string;
  specialUse?: SpecialUse;
  flags: string[];
  internalDate?: string;
  size: number;
  sha256: string;
  messageId?: string;
  sourceId?: string;
}

export interface ManifestHeader {
  type: 'archive';
  format: typeof MANIFEST_FORMAT;
  version: 1;
  created: string;
  updated: string;
}

/** What the writer's journal keeps per message entry, beside the entry's own fields. */
export interface EntryMeta {
  folder: string;
  flags: string[];
  internalDate?: string;
  sha256: string;
  messageId?: string;
  sourceId?: string;
}

export type ManifestLine = ManifestHeader | ManifestFolder | ManifestMessage;

/** Manifest bytes as a stream, one line at a time: large archives never build one big string. */
export function manifestStream(lines: Iterable<ManifestLine>): Readable {
  return Readable.from(
    (function* () {
      for (const line of lines) yield Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
    })(),
  );
}

export interface ParsedManifest {
  header?: ManifestHeader;
  folders: ManifestFolder[];
  messages: Map<string, ManifestMessage>;
}

const SPECIAL = new Set(['\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive', '\\All', '\\Flagged']);

/** Read a manifest, keeping only well-formed lines: it comes from a file anyone may have edited. */
export async function readManifest(stream: Readable): Promise<ParsedManifest> {
  const out: ParsedManifest = { folders: [], messages: new Map() };
  for await (const text of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      continue;
    }
    const folder = asFolder(line);
    if (folder) out.folders.push(folder);
    const message = asMessage(line);
    if (message) out.messages.set(message.entry, message);
    if (isObject(line) && line.type === 'archive' && line.format === MANIFEST_FORMAT) {
      out.header = line as unknown as ManifestHeader;
    }
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function special(v: unknown): SpecialUse | undefined {
  return typeof v === 'string' && SPECIAL.has(v) ? (v as SpecialUse) : undefined;
}

function asFolder(v: unknown): ManifestFolder | undefined {
  if (!isObject(v) || v.type !== 'folder' || typeof v.name !== 'string') return undefined;
  return {
    type: 'folder',
    name: v.name,
    delimiter: str(v.delimiter) ?? '/',
    path: str(v.path) ?? '',
    specialUse: special(v.specialUse),
    subscribed: typeof v.subscribed === 'boolean' ? v.subscribed : undefined,
  };
}

function asMessage(v: unknown): ManifestMessage | undefined {
  if (!isObject(v) || v.type !== 'message' || typeof v.entry !== 'string' || typeof v.folder !== 'string') {
    return undefined;
  }
  const flags = Array.isArray(v.flags) ? v.flags.filter((f): f is string => typeof f === 'string') : [];
  const date = str(v.internalDate);
  return {
    type: 'message',
    entry: v.entry,
    folder: v.folder,
    specialUse: special(v.specialUse),
    flags,
    internalDate: date && !Number.isNaN(Date.parse(date)) ? date : undefined,
    size: typeof v.size === 'number' && v.size >= 0 ? v.size : 0,
    sha256: typeof v.sha256 === 'string' && /^[0-9a-f]{64}$/.test(v.sha256) ? v.sha256 : '',
    messageId: str(v.messageId),
    sourceId: str(v.sourceId),
  };
}
