import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { crlfSha256 } from '../../src/hash.js';
import { readFolders } from './imap-any.js';
import { rig } from './rig.js';
import type { ServerAccount } from './servers.js';

export interface StoredMessage {
  uid: number;
  sha256: string;
  size: number;
  flags: string[];
  internalDate: Date;
  messageId?: string;
}

/**
 * Reads a whole rig account over IMAPS with imapflow directly: an independent check of what
 * mailferry wrote. Either a main-Dovecot user and password, or an account on any rig server
 * (test/helpers/servers.ts); keys are the folder names as that server lists them.
 */
export async function readAccount(
  account: string | ServerAccount,
  password?: string,
): Promise<Map<string, StoredMessage[]>> {
  if (typeof account !== 'string') {
    const folders = await readFolders(account);
    return new Map(folders.map((f) => [f.path, f.messages]));
  }
  const user = account;
  const r = rig();
  const client = new ImapFlow({
    host: r.host,
    port: r.ports.imaps,
    secure: true,
    auth: { user, pass: password ?? '' },
    logger: false,
    tls: { ca: [readFileSync(r.caFile, 'utf8')] },
  });
  await client.connect();
  const out = new Map<string, StoredMessage[]>();
  try {
    for (const box of await client.list()) {
      if (box.flags.has('\\Noselect')) continue;
      const lock = await client.getMailboxLock(box.path, { readOnly: true });
      const msgs: StoredMessage[] = [];
      try {
        for await (const m of client.fetch('1:*', {
          uid: true,
          flags: true,
          internalDate: true,
          source: true,
          envelope: true,
          size: true,
        })) {
          if (!m.source) continue;
          const s: StoredMessage = {
            uid: m.uid,
            sha256: crlfSha256(m.source),
            size: m.size ?? m.source.length,
            flags: [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort(),
            internalDate: new Date(m.internalDate ?? 0),
          };
          if (m.envelope?.messageId) s.messageId = m.envelope.messageId;
          msgs.push(s);
        }
      } finally {
        lock.release();
      }
      out.set(box.path, msgs);
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
  return out;
}

/** Multiset of hashes, for exactly-once comparisons. */
export function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

/** Bytes, flags and internal date to the second. */
export function signature(m: StoredMessage): string {
  return `${m.sha256} ${m.flags.join(',')} ${Math.floor(m.internalDate.getTime() / 1000)}`;
}
