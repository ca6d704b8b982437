import type { FetchMessageObject, ListResponse } from 'imapflow';
import { messageIdOf } from '../mail/headers.js';
import type { FolderInfo, MessageMeta, SpecialUse } from '../types.js';
import { addProviderFields } from './gmail.js';

/** Special uses (RFC 6154) a folder keeps when copied. */
const SPECIAL_USES = new Set<string>([
  '\\Sent',
  '\\Drafts',
  '\\Trash',
  '\\Junk',
  '\\Archive',
  '\\All',
  '\\Flagged',
]);

/** A LIST answer as a folder. */
export function folderInfo(entry: ListResponse): FolderInfo {
  const flags = [...entry.flags].map((f) => f.toLowerCase());
  const info: FolderInfo = {
    name: entry.path,
    delimiter: entry.delimiter || '/',
    subscribed: entry.subscribed === true,
    selectable: !flags.includes('\\noselect') && !flags.includes('\\nonexistent'),
  };
  if (entry.specialUse && SPECIAL_USES.has(entry.specialUse))
    info.specialUse = entry.specialUse as SpecialUse;
  return info;
}

/** One shared array per flag combination: 100,000 messages hold a few arrays, not 100,000. */
const flagSets = new Map<string, string[]>();

function internFlags(flags: Set<string> | undefined): string[] {
  // \Recent belongs to the session, not the message: it is never copied.
  const list = [...(flags ?? [])].filter((f) => f.toLowerCase() !== '\\recent');
  const key = list.join(' ');
  const known = flagSets.get(key);
  if (known) return known;
  // Frozen: the array is shared, so a change in place would reach other messages.
  Object.freeze(list);
  if (flagSets.size < 1024) flagSets.set(key, list);
  return list;
}

/** A FETCH row (UID, size, flags, date, Message-ID header) as a message's metadata. */
export function messageMeta(m: FetchMessageObject): MessageMeta {
  const meta: MessageMeta = {
    id: String(m.uid),
    size: m.size ?? 0,
    // \Recent belongs to the session, not the message: it is never copied.
    flags: internFlags(m.flags),
  };
  if (m.internalDate) meta.internalDate = new Date(m.internalDate);
  const messageId = messageIdOf(m.headers);
  if (messageId) meta.messageId = messageId;
  addProviderFields(meta, m);
  return meta;
}
