/**
 * The IMAP commands imapflow has no call for: MULTIAPPEND (RFC 3502, many messages in one
 * APPEND, which Dovecot stores in one transaction) and CREATE with a special-use attribute
 * (RFC 6154). imapflow's append() takes one message, and its mailboxCreate() no USE list, so
 * both go through its private command runner `exec` with its own path encoding from the deep
 * import `imapflow/lib/tools.js`. Both private pieces are used only here: an imapflow upgrade
 * that changes them breaks this file and its tests, nothing else.
 */
import type { ImapFlow } from 'imapflow';
import { encodePath, formatDateTime, normalizePath } from 'imapflow/lib/tools.js';

/** imapflow's command runner: not in its typings, but the way its own commands talk to the server. */
interface RawExec {
  exec(
    command: string,
    attributes: unknown[],
    options?: object,
  ): Promise<{ response: { attributes?: Array<{ section?: Array<{ value?: unknown }> }> }; next(): void }>;
}

/** One message of a MULTIAPPEND: flags already filtered to what the folder keeps. */
export interface AppendMessage {
  flags: string[];
  internalDate?: Date;
  /** CRLF bytes, sent as one literal. */
  data: Buffer;
}

/** A folder name as the server spells it (namespace prefix, delimiter), as imapflow's own commands do. */
export function serverPath(client: ImapFlow, name: string): string {
  return normalizePath(client, name);
}

/**
 * The APPEND arguments for a batch: the mailbox once, then flags, date and literal per
 * message. A literal holding NUL goes as literal8 (RFC 3516) where the server offers BINARY.
 */
export function multiAppendAttributes(
  client: ImapFlow,
  folder: string,
  messages: AppendMessage[],
): unknown[] {
  const binary = client.capabilities.has('BINARY');
  const attributes: unknown[] = [{ type: 'ATOM', value: encodePath(client, serverPath(client, folder)) }];
  for (const m of messages) {
    attributes.push(m.flags.map((f) => ({ type: 'ATOM', value: f })));
    const date = m.internalDate && formatDateTime(m.internalDate);
    if (date) attributes.push({ type: 'STRING', value: date });
    attributes.push({ type: 'LITERAL', value: m.data, isLiteral8: binary && m.data.includes(0) });
  }
  return attributes;
}

/**
 * Sends one MULTIAPPEND. Resolves with the UIDs from APPENDUID (UIDPLUS) in message order,
 * or [] when the server named none or a set that does not fit the batch. Rejects with
 * imapflow's error when the server refuses the batch (it then stored none of it).
 */
export async function multiAppend(
  client: ImapFlow,
  folder: string,
  messages: AppendMessage[],
): Promise<number[]> {
  const res = await (client as unknown as RawExec).exec(
    'APPEND',
    multiAppendAttributes(client, folder, messages),
  );
  res.next();
  const code = res.response.attributes?.[0]?.section;
  const isUid = String(code?.[0]?.value ?? '').toUpperCase() === 'APPENDUID';
  return isUid ? expandUidSet(String(code?.[2]?.value ?? ''), messages.length) : [];
}

/** `CREATE path (USE (\Sent))`. False when the server said NO (e.g. the use is taken elsewhere). */
export async function createSpecialUse(client: ImapFlow, path: string, use: string): Promise<boolean> {
  try {
    const res = await (client as unknown as RawExec).exec('CREATE', [
      { type: 'ATOM', value: encodePath(client, path) },
      [{ type: 'ATOM', value: 'USE' }, [{ type: 'ATOM', value: use }]],
    ]);
    res.next();
    return true;
  } catch (err) {
    if ((err as { responseStatus?: string }).responseStatus !== 'NO') throw err;
    return false;
  }
}

/**
 * `5:7,9` from an APPENDUID answer, ascending. [] for anything malformed, or for a set larger
 * than `max` (the batch): a broken answer must not make us count to four billion.
 */
export function expandUidSet(set: string, max = 10_000): number[] {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const m = /^(\d+)(?::(\d+))?$/.exec(part);
    if (!m) return [];
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    if (lo < 1 || out.length + (hi - lo + 1) > max) return [];
    for (let u = lo; u <= hi; u++) out.push(u);
  }
  return out.sort((x, y) => x - y);
}
