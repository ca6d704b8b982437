import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import type { MessageMeta, SpecialUse } from '../../types.js';

/**
 * The JSON-lines sidecar mailferry writes beside each mbox file (`INBOX.mbox` ->
 * `INBOX.mbox.mailferry.jsonl`). Append-only: one `folder` line first, then one `msg` line
 * per message once its bytes are durable, and `flags`/`folder` lines for later changes (the
 * last one wins). A torn last line is what a kill leaves behind and is dropped on read.
 * Each record that moves the end is also an intent: "mailferry may write from here on" (the
 * header at 0, each `msg` at its `end`, an explicit `intent` after a seal). A `sealed` line
 * (a clean close) takes it back. Only bytes after an open intent are ours to cut after a kill.
 */

export const MBOX_EXT = '.mbox';
export const SIDECAR_SUFFIX = '.mailferry.jsonl';
export const SIDECAR_FORMAT = 'mailferry-mboxrd';

export interface SidecarFolder {
  type: 'folder';
  format: typeof SIDECAR_FORMAT;
  version: 1;
  name: string;
  delimiter: string;
  specialUse?: SpecialUse;
  subscribed?: boolean;
}

export interface SidecarMessage {
  type: 'msg';
  /** Byte offset of the From line, as a string: the message's id at both sink and source. */
  id: string;
  offset: number;
  /** First byte of the (quoted) message after the From line. */
  start: number;
  /** Quoted bytes stored from `start`; the separator follows. */
  stored: number;
  /** Offset where the next message's From line goes. */
  end: number;
  /** CRLF-normalised size of the original message (the project's size everywhere). */
  size: number;
  /** Size of the original bytes as received. */
  rawSize: number;
  sha256: string;
  messageId?: string;
  sourceId?: string;
  flags: string[];
  internalDate?: string;
}

export interface SidecarFlags {
  type: 'flags';
  id: string;
  flags: string[];
}

/** Durable before a sealed file gets another byte at `offset`: bytes after it may be ours. */
export interface SidecarIntent {
  type: 'intent';
  offset: number;
}

/** A clean close: the file ends at `end`, and mailferry writes nothing more without a new intent. */
export interface SidecarSealed {
  type: 'sealed';
  end: number;
}

export type SidecarRecord = SidecarFolder | SidecarMessage | SidecarFlags | SidecarIntent | SidecarSealed;

export interface SidecarState {
  header?: SidecarFolder;
  /** Messages in file order, with the latest flags applied. */
  messages: SidecarMessage[];
  /** Length of the complete lines; anything after it is a torn write. */
  validBytes: number;
  /** Where the next message goes (the end of the last journaled one). */
  end: number;
  /** Where an unsealed run may have gone on writing (the open intent), if one is open. */
  openIntent?: number;
  /** The last line was torn: the run died while journaling, after its bytes were written. */
  torn: boolean;
}

export function sidecarPathFor(mboxPath: string): string {
  return `${mboxPath}${SIDECAR_SUFFIX}`;
}

/** Every sidecar under `dir`, sorted; symlinks are not followed. */
export async function findSidecars(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await findSidecars(full)));
    else if (entry.isFile() && entry.name.endsWith(`${MBOX_EXT}${SIDECAR_SUFFIX}`)) out.push(full);
  }
  return out.sort();
}

export function recordLine(record: SidecarRecord): string {
  return `${JSON.stringify(record)}\n`;
}

export function metaOf(m: SidecarMessage): MessageMeta {
  const meta: MessageMeta = { id: m.id, size: m.size, flags: [...m.flags], sha256: m.sha256 };
  if (m.messageId) meta.messageId = m.messageId;
  if (m.internalDate) meta.internalDate = new Date(m.internalDate);
  return meta;
}

/** Read a sidecar, line by line; only the last line may be broken (a torn append). */
export async function readSidecar(path: string): Promise<SidecarState> {
  const state: SidecarState = { messages: [], validBytes: 0, end: 0, torn: false };
  const byId = new Map<string, SidecarMessage>();
  let carry = Buffer.alloc(0);
  let offset = 0;
  let broken: string | undefined;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let nl = buf.indexOf(0x0a);
    while (nl >= 0) {
      if (broken) throw corrupt(path, broken);
      const line = buf.toString('utf8', 0, nl);
      const record = parseRecord(line);
      if (record) {
        apply(state, byId, record);
        state.validBytes = offset + nl + 1;
      } else {
        broken = line.slice(0, 60);
      }
      offset += nl + 1;
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    carry = Buffer.from(buf);
  }
  const last = state.messages.at(-1);
  state.end = last ? last.end : 0;
  state.torn = broken !== undefined || carry.length > 0;
  return state;
}

function apply(state: SidecarState, byId: Map<string, SidecarMessage>, record: SidecarRecord): void {
  if (record.type === 'folder') {
    // A new file: the header is written before the first byte, so it opens an intent at 0.
    if (!state.header) state.openIntent = 0;
    state.header = record;
  } else if (record.type === 'msg') {
    byId.set(record.id, record);
    state.messages.push(record);
    state.openIntent = record.end;
  } else if (record.type === 'intent') {
    state.openIntent = record.offset;
  } else if (record.type === 'sealed') {
    delete state.openIntent;
  } else {
    const m = byId.get(record.id);
    if (m) m.flags = record.flags;
  }
}

function parseRecord(line: string): SidecarRecord | undefined {
  try {
    const rec = JSON.parse(line) as SidecarRecord;
    if (rec.type === 'folder' && rec.format === SIDECAR_FORMAT && typeof rec.name === 'string') return rec;
    if (rec.type === 'msg' && Number.isSafeInteger(rec.offset) && Number.isSafeInteger(rec.end)) return rec;
    if (rec.type === 'flags' && Array.isArray(rec.flags)) return rec;
    if (rec.type === 'intent' && Number.isSafeInteger(rec.offset)) return rec;
    if (rec.type === 'sealed' && Number.isSafeInteger(rec.end)) return rec;
  } catch {
    // fall through: not a record
  }
  return undefined;
}

function corrupt(path: string, line: string): UsageError {
  return new UsageError(`${path} is corrupt: unreadable line '${line}'`, {
    hint: 'restore the file or move the folder aside; mailferry never writes such a line',
  });
}
