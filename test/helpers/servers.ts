import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { inject } from 'vitest';
import { createAccount } from '../rig/accounts.js';
import { extraDrivers } from '../rig/server-list.js';
import type { ServerInfo, ServerKind } from '../rig/servers.js';
import { rig } from './rig.js';

export type { ServerInfo, ServerKind } from '../rig/servers.js';

/** Every server the rig started for this run (Dovecot always first). */
export function servers(): ServerInfo[] {
  return inject('servers') ?? [];
}

export interface ServerAccount {
  server: ServerInfo;
  user: string;
  password: string;
}

let counter = 0;
const runTag = randomBytes(2).toString('hex');

/** A new account on that server with a unique name and a random password. */
export async function serverAccount(server: ServerInfo, prefix: string): Promise<ServerAccount> {
  counter += 1;
  // Short and plain: Cyrus and Courier are stricter about user names than Dovecot.
  const user = `${prefix}${process.pid % 10000}t${threadId}${runTag}n${counter}`.toLowerCase();
  const password = `pw${randomBytes(6).toString('hex')}`;
  if (server.kind === 'dovecot') await createAccount(rig(), user, password);
  else {
    const driver = extraDrivers.find((d) => d.kind === server.kind);
    if (!driver) throw new Error(`no rig driver for ${server.kind}`);
    await driver.createAccount(server, user, password);
  }
  return { server, user, password };
}

type Scheme = 'imap' | 'imaps' | 'pop3' | 'pop3s';

/** e.g. imaps://user@127.0.0.1:PORT for that account's server. */
export function accountUrl(a: ServerAccount, scheme: Scheme = 'imaps'): string {
  return `${scheme}://${encodeURIComponent(a.user)}@127.0.0.1:${a.server.ports[scheme]}`;
}

export function serverKinds(): ServerKind[] {
  return servers().map((s) => s.kind);
}
