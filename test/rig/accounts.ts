import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rigPaths, sizeBytes } from './config.js';
import { doveadm, type RigInfo } from './dovecot.js';
import { lookupGroup } from './system.js';

export interface AccountOptions {
  /** Dovecot quota rule, e.g. '*:storage=10M' or '*:messages=100'; none = unlimited. */
  quota?: string;
  /** Per-user APPENDLIMIT, e.g. '1M' (default: the rig's MAX_MAIL_SIZE). */
  maxMailSize?: string;
}

/** Dovecot lowercases user names (auth_username_format = %Lu), so the rig does too. */
export function normalizeUser(user: string): string {
  if (!/^[A-Za-z0-9._@-]+$/.test(user) || user.startsWith('.')) {
    throw new Error(`bad rig user name ${JSON.stringify(user)}: use letters, digits and . _ @ -`);
  }
  return user.toLowerCase();
}

function passwdFile(rig: RigInfo, user: string): string {
  return join(rigPaths(rig.baseDir).usersDir, user);
}

function extraFields(opts: AccountOptions): string {
  const fields: string[] = [];
  if (opts.quota) fields.push(`userdb_quota_rule=${opts.quota}`);
  if (opts.maxMailSize) {
    fields.push(`userdb_quota_max_mail_size=${opts.maxMailSize}`);
    // Advertise the user's own limit after login instead of the rig-wide one.
    fields.push(`userdb_imap_capability=+APPENDLIMIT=${sizeBytes(opts.maxMailSize)}`);
  }
  for (const f of fields)
    if (/\s/.test(f)) throw new Error(`rig account field must not contain spaces: ${f}`);
  return fields.join(' ');
}

/**
 * Replace a user's passwd-file atomically. Dovecot re-reads a file only when its mtime (seconds) or
 * size changed, and stats it at most once a second: so the new mtime is pushed past the old one, and
 * a replaced file is only trusted once the clock has moved on to the next second.
 */
async function writePasswd(
  rig: RigInfo,
  user: string,
  passwordB64: string,
  opts: AccountOptions,
): Promise<void> {
  const file = passwdFile(rig, user);
  const line = `${user}:{PLAIN.B64}${passwordB64}::::::${extraFields(opts)}\n`;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, line, { mode: 0o640 });
  chownSync(tmp, 0, lookupGroup('dovecot') ?? 0);
  const now = Math.floor(Date.now() / 1000);
  const replaced = existsSync(file);
  const old = replaced ? Math.floor(statSync(file).mtimeMs / 1000) : 0;
  const stamp = Math.max(now, old + 1);
  utimesSync(tmp, stamp, stamp);
  renameSync(tmp, file);
  if (replaced) await sleep(1000 - (Date.now() % 1000) + 20);
}

function readPasswd(rig: RigInfo, user: string): { passwordB64: string; opts: AccountOptions } {
  const file = passwdFile(rig, user);
  if (!existsSync(file)) throw new Error(`rig has no account ${user}`);
  const line = readFileSync(file, 'utf8').trim();
  const parts = line.split(':');
  const passwordB64 = (parts[1] ?? '').replace('{PLAIN.B64}', '');
  const extras = parts.slice(7).join(':');
  const opts: AccountOptions = {};
  for (const f of extras.split(' ')) {
    if (f.startsWith('userdb_quota_rule=')) opts.quota = f.slice('userdb_quota_rule='.length);
    if (f.startsWith('userdb_quota_max_mail_size='))
      opts.maxMailSize = f.slice('userdb_quota_max_mail_size='.length);
  }
  return { passwordB64, opts };
}

/** Create (or replace the password and limits of) an account; works while the rig runs. */
export async function createAccount(
  rig: RigInfo,
  user: string,
  password: string,
  opts: AccountOptions = {},
): Promise<void> {
  const name = normalizeUser(user);
  const home = join(rigPaths(rig.baseDir).homeDir, name);
  if (!existsSync(home)) {
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, rig.mailUid, rig.mailGid);
  }
  await writePasswd(rig, name, Buffer.from(password, 'utf8').toString('base64'), opts);
}

/** Change the quota rule, e.g. '*:storage=2M'; undefined = unlimited. Applies to new sessions. */
export async function setQuota(rig: RigInfo, user: string, quota: string | undefined): Promise<void> {
  const name = normalizeUser(user);
  const { passwordB64, opts } = readPasswd(rig, name);
  await writePasswd(rig, name, passwordB64, { ...opts, quota });
}

export function listAccounts(rig: RigInfo): string[] {
  return readdirSync(rigPaths(rig.baseDir).usersDir)
    .filter((f) => !f.endsWith('.tmp'))
    .sort();
}

export interface FolderStatusRow {
  folder: string;
  messages: number;
  vsize: number;
  uidvalidity: number;
}

/** Per-folder counts from `doveadm mailbox status`; folders that were never created are absent. */
export async function mailboxStatus(rig: RigInfo, user: string): Promise<FolderStatusRow[]> {
  const out = await doveadm(rig, [
    '-f',
    'tab',
    'mailbox',
    'status',
    '-u',
    normalizeUser(user),
    'messages vsize uidvalidity',
    '*',
  ]);
  const [header, ...rows] = out.split('\n').filter((l) => l.length > 0);
  const cols = (header ?? '').split('\t');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`doveadm mailbox status printed no ${name} column: ${header}`);
    return i;
  };
  const [iBox, iMsgs, iSize, iUv] = [at('mailbox'), at('messages'), at('vsize'), at('uidvalidity')];
  return rows.map((row) => {
    const f = row.split('\t');
    return {
      folder: f[iBox]!,
      messages: Number(f[iMsgs]),
      vsize: Number(f[iSize]),
      uidvalidity: Number(f[iUv]),
    };
  });
}
