import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount, normalizeUser } from './accounts.js';
import { rigPaths } from './config.js';
import { type RigInfo, startRig } from './dovecot.js';

/**
 * A Gmail-like Dovecot: every account has `[Gmail]/All Mail` (special-use \All), a virtual
 * folder over every listed folder but Trash and Junk plus `.archived/Mail`, a folder in a
 * namespace nobody lists. Mail stored there is "archived": only All Mail shows it.
 */
export const ARCHIVED_FOLDER = '.archived/Mail';
export const ALL_MAIL = '[Gmail]/All Mail';

export function startGmailLikeRig(): Promise<RigInfo> {
  return startRig({ virtualAll: true });
}

/** The account and its All Mail definition (dovecot-virtual: patterns, then the search). */
export async function createGmailLikeAccount(rig: RigInfo, user: string, password: string): Promise<void> {
  await createAccount(rig, user, password);
  const home = join(rigPaths(rig.baseDir).homeDir, normalizeUser(user));
  const dirs = [join(home, 'virtual'), join(home, 'virtual', 'All Mail')];
  for (const d of dirs) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chownSync(d, rig.mailUid, rig.mailGid);
  }
  const file = join(home, 'virtual', 'All Mail', 'dovecot-virtual');
  writeFileSync(file, '*\n.archived/*\n-Trash\n-Junk\n-[Gmail]/*\n  all\n', { mode: 0o600 });
  chownSync(file, rig.mailUid, rig.mailGid);
}
