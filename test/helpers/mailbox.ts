import { dovecotInfo } from '../rig/dovecot.js';
import { readFolders, type StoredMessage } from './imap-any.js';
import { rig } from './rig.js';
import type { ServerAccount } from './servers.js';

export type { StoredMessage } from './imap-any.js';

/**
 * Reads a whole rig account over IMAPS with imapflow directly: an independent check of what
 * mailferry wrote. Either a main-Dovecot user and password, or an account on any rig server
 * (test/helpers/servers.ts); keys are the folder names as that server lists them.
 */
export async function readAccount(
  account: string | ServerAccount,
  password?: string,
): Promise<Map<string, StoredMessage[]>> {
  const a: ServerAccount =
    typeof account === 'string'
      ? { server: dovecotInfo(rig()), user: account, password: password ?? '' }
      : account;
  const folders = await readFolders(a);
  return new Map(folders.map((f) => [f.path, f.messages]));
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
