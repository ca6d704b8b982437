import { randomBytes } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { inject } from 'vitest';
import { type AccountOptions, createAccount } from '../rig/accounts.js';
import type { RigInfo } from '../rig/dovecot.js';

export type { RigInfo } from '../rig/dovecot.js';

/** The Dovecot rig that test/rig/global-setup.ts started for this run. */
export function rig(): RigInfo {
  const info = inject('rig');
  if (!info)
    throw new Error('no Dovecot test rig: install dovecot-imapd and dovecot-pop3d, and run through vitest');
  return info;
}

let counter = 0;
// Workers may be threads of one process or separate processes, and a rig outlives one run via the CLI.
const runTag = randomBytes(2).toString('hex');

/** A new account with a name no other worker or test uses; password is random. */
export async function freshAccount(
  prefix: string,
  opts: AccountOptions = {},
): Promise<{ user: string; password: string }> {
  counter += 1;
  const user = `${prefix}-${process.pid}-${threadId}-${runTag}-${counter}`.toLowerCase();
  const password = `pw-${randomBytes(6).toString('hex')}`;
  await createAccount(rig(), user, password, opts);
  return { user, password };
}

function url(scheme: string, port: number, user: string): string {
  return `${scheme}://${encodeURIComponent(user)}@127.0.0.1:${port}`;
}

/** e.g. imaps://user@127.0.0.1:PORT (imap = STARTTLS port). */
export function imapUrl(user: string, opts: { tls?: 'imaps' | 'imap' } = {}): string {
  const scheme = opts.tls ?? 'imaps';
  return url(scheme, scheme === 'imaps' ? rig().ports.imaps : rig().ports.imap, user);
}

/** e.g. pop3s://user@127.0.0.1:PORT (pop3 = STLS port). */
export function pop3Url(user: string, opts: { tls?: 'pop3s' | 'pop3' } = {}): string {
  const scheme = opts.tls ?? 'pop3s';
  return url(scheme, scheme === 'pop3s' ? rig().ports.pop3s : rig().ports.pop3, user);
}
