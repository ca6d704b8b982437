import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crlfSha256 } from '../../src/mail/hash.js';
import { normalizeUser } from './accounts.js';
import { rigPaths, SPECIAL_USE_FOLDERS } from './config.js';
import { bigMessage, corpusMessages, edgeCaseMessages } from './corpus.js';
import { doveadm, type RigInfo } from './dovecot.js';

export { bigMessage, corpusMessages, corpusSize, edgeCaseMessages } from './corpus.js';

export interface SeededMessage {
  folder: string;
  raw: Buffer;
  flags: string[];
  internalDate: Date;
  /** crlfSha256 of raw (src/hash.ts). */
  sha256: string;
  /** Without angle brackets, as in MessageMeta. */
  messageId?: string;
  /** Set for edge cases (edgeCaseMessages names) and big messages ('big-<bytes>'). */
  name?: string;
}

export interface SeedSpec {
  folders: Array<{ name: string; count: number; offset?: number; specialUse?: string }>;
  /** Folder that gets edgeCaseMessages(). */
  edgeCases?: string;
  big?: Array<{ folder: string; bytes: number }>;
  /** Vary \Seen, \Answered, \Flagged, \Draft (Drafts only) and the keywords $Label1, $Forwarded. */
  flags?: boolean;
}

/** ~2,000 corpus messages: nested, special-use and non-ASCII folders (separator '/'). */
export const DEFAULT_FOLDERS: SeedSpec['folders'] = [
  { name: 'INBOX', count: 800 },
  { name: 'Sent', count: 400, specialUse: '\\Sent' },
  { name: 'Drafts', count: 50, specialUse: '\\Drafts' },
  { name: 'Trash', count: 150, specialUse: '\\Trash' },
  { name: 'Archive/2002', count: 500 },
  { name: 'Entwürfe', count: 100 },
];

/** RFC 3501 modified UTF-7, as Maildir++ stores folder names on disk. */
export function encodeMutf7(name: string): string {
  return name.replace(/&|[^\x20-\x7e]+/g, (run) => {
    if (run === '&') return '&-';
    const utf16 = Buffer.from(run, 'utf16le').swap16();
    return `&${utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
  });
}

function maildirOf(rig: RigInfo, user: string, folder: string): string {
  const root = join(rigPaths(rig.baseDir).homeDir, user, 'Maildir');
  if (folder.toUpperCase() === 'INBOX') return root;
  return join(root, `.${folder.split('/').map(encodeMutf7).join('.')}`);
}

/** One unfolded header value from the raw header block, or undefined. */
export function headerValue(raw: Buffer, name: string): string | undefined {
  const text = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m?.[1]?.trim();
}

function internalDateOf(raw: Buffer, index: number): Date {
  const parsed = Date.parse(headerValue(raw, 'Date') ?? '');
  // Servers store the time of the APPEND for a date in the future (Dovecot: over 2 h ahead), so
  // seeded dates stay in the past, like a real mailbox's.
  const ok = Number.isFinite(parsed) && parsed > Date.UTC(1990, 0) && parsed < Date.now() - 86_400_000;
  // Fallback: a deterministic spread, seven hours apart from 2002-01-01.
  const ms = ok ? parsed : Date.UTC(2002, 0, 1) + index * 7 * 3600_000;
  return new Date(Math.floor(ms / 1000) * 1000);
}

function flagsFor(index: number, isDrafts: boolean): string[] {
  const flags: string[] = [];
  if (index % 4 !== 3) flags.push('\\Seen');
  if (index % 5 === 1) flags.push('\\Answered');
  if (index % 9 === 2) flags.push('\\Flagged');
  if (isDrafts) flags.push('\\Draft');
  if (index % 7 === 4) flags.push('$Label1');
  if (index % 11 === 6) flags.push('$Forwarded');
  return flags;
}

const SYSTEM_LETTERS: Record<string, string> = {
  '\\Draft': 'D',
  '\\Flagged': 'F',
  '\\Answered': 'R',
  '\\Seen': 'S',
};

/** Keyword name to Maildir letter (a..z) from dovecot-keywords, adding new ones. */
class Keywords {
  private readonly names: string[] = [];
  private changed = false;
  constructor(private readonly file: string) {
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^(\d+) (.+)$/.exec(line);
      if (m) this.names[Number(m[1])] = m[2]!;
    }
  }
  letter(name: string): string {
    let i = this.names.indexOf(name);
    if (i < 0) {
      i = this.names.length;
      if (i >= 26) throw new Error('Maildir allows 26 keywords per folder');
      this.names.push(name);
      this.changed = true;
    }
    return String.fromCharCode(0x61 + i);
  }
  save(uid: number, gid: number): void {
    if (!this.changed) return;
    writeFileSync(this.file, this.names.map((n, i) => `${i} ${n}\n`).join(''));
    chownSync(this.file, uid, gid);
  }
}

interface Planned {
  folder: string;
  items: Array<{ raw: Buffer; name?: string }>;
}

function planFolders(spec: SeedSpec): Planned[] {
  const byFolder = new Map<string, Planned>();
  const folder = (name: string) => {
    const p = byFolder.get(name) ?? { folder: name, items: [] };
    byFolder.set(name, p);
    return p;
  };
  let next = 0;
  for (const f of spec.folders) {
    const offset = f.offset ?? next;
    next = offset + f.count;
    folder(f.name).items.push(...corpusMessages(f.count, offset).map((raw) => ({ raw })));
  }
  if (spec.edgeCases) folder(spec.edgeCases).items.push(...edgeCaseMessages());
  for (const b of spec.big ?? []) {
    folder(b.folder).items.push({
      raw: bigMessage(b.bytes, `${b.folder}:${b.bytes}`),
      name: `big-${b.bytes}`,
    });
  }
  return [...byFolder.values()];
}

function checkSpecialUse(spec: SeedSpec): void {
  for (const f of spec.folders) {
    if (f.specialUse && SPECIAL_USE_FOLDERS[f.name] !== f.specialUse) {
      const known = Object.entries(SPECIAL_USE_FOLDERS).map(([n, u]) => `${n}=${u}`);
      throw new Error(`the rig cannot give ${f.name} ${f.specialUse}; it declares ${known.join(', ')}`);
    }
  }
}

/** Create the folders that do not exist yet on disk (INBOX comes with the first session). */
async function ensureFolders(rig: RigInfo, user: string, folders: string[]): Promise<void> {
  await doveadm(rig, ['mailbox', 'status', '-u', user, 'messages', 'INBOX']);
  const missing = folders.filter((f) => !existsSync(maildirOf(rig, user, f)));
  if (missing.length) await doveadm(rig, ['mailbox', 'create', '-u', user, '-s', ...missing]);
  for (const f of folders) {
    if (!existsSync(join(maildirOf(rig, user, f), 'cur'))) {
      throw new Error(`folder ${f} of ${user} is not at ${maildirOf(rig, user, f)}`);
    }
  }
}

function writeFolder(rig: RigInfo, user: string, plan: Planned, spec: SeedSpec): SeededMessage[] {
  const dir = maildirOf(rig, user, plan.folder);
  const keywords = new Keywords(join(dir, 'dovecot-keywords'));
  const isDrafts = SPECIAL_USE_FOLDERS[plan.folder] === '\\Drafts';
  // Dovecot gives UIDs in file-name order (seconds, then M<n>), so UIDs follow the manifest.
  const stamp = `${Math.floor(Date.now() / 1000)}`;
  const tag = `P${process.pid}R${randomBytes(4).toString('hex')}`;
  const written = plan.items.map(({ raw, name }, i): SeededMessage => {
    const flags = spec.flags ? flagsFor(i, isDrafts) : [];
    const system = flags.map((f) => SYSTEM_LETTERS[f] ?? '').sort();
    const kw = flags
      .filter((f) => !f.startsWith('\\'))
      .map((f) => keywords.letter(f))
      .sort();
    const base = `${stamp}.M${i}${tag}.mailferry-rig,S=${raw.length}`;
    const internalDate = internalDateOf(raw, i);
    // Maildir delivery: write in tmp/, then rename, so a live session never sees half a file.
    const tmp = join(dir, 'tmp', base);
    writeFileSync(tmp, raw);
    chownSync(tmp, rig.mailUid, rig.mailGid);
    utimesSync(tmp, internalDate, internalDate);
    renameSync(tmp, join(dir, 'cur', `${base}:2,${system.join('')}${kw.join('')}`));
    const id = headerValue(raw, 'Message-ID')?.replace(/^<|>$/g, '');
    const msg: SeededMessage = { folder: plan.folder, raw, flags, internalDate, sha256: crlfSha256(raw) };
    if (id) msg.messageId = id;
    if (name) msg.name = name;
    return msg;
  });
  keywords.save(rig.mailUid, rig.mailGid);
  return written;
}

/**
 * Fill an existing account by writing Maildir files directly (2,000 messages take well under a
 * second), then let Dovecot index them. Returns what was written, in UID order per folder.
 */
export async function seedAccount(rig: RigInfo, user: string, spec: SeedSpec): Promise<SeededMessage[]> {
  const name = normalizeUser(user);
  checkSpecialUse(spec);
  const plans = planFolders(spec);
  await ensureFolders(
    rig,
    name,
    plans.map((p) => p.folder),
  );
  const seeded = plans.flatMap((plan) => writeFolder(rig, name, plan, spec));
  await doveadm(rig, ['force-resync', '-u', name, '*']);
  return seeded;
}
