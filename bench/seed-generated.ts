/**
 * Seeds generated messages (bench/realistic.ts) into a rig account by writing Maildir files directly,
 * one message at a time: 10,000 realistic messages are ~750 MB, 100,000 small ones 100,000 files,
 * neither is held in memory. Dovecot indexes them afterwards (force-resync).
 */
import { chownSync, existsSync, mkdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeUser } from '../test/rig/accounts.js';
import { rigPaths } from '../test/rig/config.js';
import { doveadm, type RigInfo } from '../test/rig/dovecot.js';
import { encodeMutf7 } from '../test/rig/seed.js';
import type { ManifestEntry } from './raw-append.js';

export interface GeneratedSet {
  messages: number;
  /** Raw bytes as stored (LF line ends). */
  bytes: number;
  /** raw-append manifest (CRLF copies), when asked for. */
  manifest?: string;
}

export interface GenerateSpec {
  folders: Array<{ name: string; count: number }>;
  /** Message number i (0-based across all folders). */
  make(i: number): Buffer;
  /** Write CRLF copies and a raw-append manifest here. */
  manifestDir?: string;
  /** Flags every message gets (Maildir letters are derived); default: \Seen on 3 of 4. */
  flags?: (i: number) => string[];
  /** Flags raw-append sets instead (POP3 copies are marked \Seen by mailferry). */
  manifestFlags?: string[];
}

function maildirOf(rig: RigInfo, user: string, folder: string): string {
  const root = join(rigPaths(rig.baseDir).homeDir, user, 'Maildir');
  if (folder.toUpperCase() === 'INBOX') return root;
  return join(root, `.${folder.split('/').map(encodeMutf7).join('.')}`);
}

const LETTERS: Record<string, string> = { '\\Answered': 'R', '\\Flagged': 'F', '\\Seen': 'S' };

function defaultFlags(i: number): string[] {
  const f: string[] = [];
  if (i % 4 !== 3) f.push('\\Seen');
  if (i % 5 === 1) f.push('\\Answered');
  if (i % 9 === 2) f.push('\\Flagged');
  return f;
}

async function ensureFolders(rig: RigInfo, user: string, folders: string[]): Promise<void> {
  await doveadm(rig, ['mailbox', 'status', '-u', user, 'messages', 'INBOX']);
  const missing = folders.filter((f) => !existsSync(maildirOf(rig, user, f)));
  if (missing.length) await doveadm(rig, ['mailbox', 'create', '-u', user, '-s', ...missing]);
}

export async function seedGenerated(
  rig: RigInfo,
  account: string,
  spec: GenerateSpec,
): Promise<GeneratedSet> {
  const user = normalizeUser(account);
  await ensureFolders(
    rig,
    user,
    spec.folders.map((f) => f.name),
  );
  const flagsOf = spec.flags ?? defaultFlags;
  if (spec.manifestDir) mkdirSync(spec.manifestDir, { recursive: true });
  const entries: ManifestEntry[] = [];
  const stamp = `${Math.floor(Date.now() / 1000)}`;
  let i = 0;
  let bytes = 0;
  for (const f of spec.folders) {
    const dir = maildirOf(rig, user, f.name);
    for (let k = 0; k < f.count; k++, i++) {
      const raw = spec.make(i);
      const flags = flagsOf(i);
      const letters = flags
        .map((x) => LETTERS[x] ?? '')
        .sort()
        .join('');
      // Dovecot gives UIDs in file-name order: seconds, then M<n> (zero-padded keeps the order).
      const base = `${stamp}.M${String(k).padStart(7, '0')}P${process.pid}.bench,S=${raw.length}`;
      const tmp = join(dir, 'tmp', base);
      writeFileSync(tmp, raw);
      chownSync(tmp, rig.mailUid, rig.mailGid);
      const when = new Date(Date.UTC(2015, 0, 1) + i * 3600_000);
      utimesSync(tmp, when, when);
      renameSync(tmp, join(dir, 'cur', `${base}:2,${letters}`));
      bytes += raw.length;
      if (spec.manifestDir) {
        const file = join(spec.manifestDir, `${i}.eml`);
        writeFileSync(file, Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
        entries.push({
          folder: f.name,
          file,
          flags: spec.manifestFlags ?? flags,
          internalDate: when.toISOString(),
        });
      }
    }
  }
  await doveadm(rig, ['force-resync', '-u', user, '*']);
  const out: GeneratedSet = { messages: i, bytes };
  if (spec.manifestDir) {
    out.manifest = join(spec.manifestDir, 'manifest.json');
    writeFileSync(out.manifest, JSON.stringify(entries));
  }
  return out;
}
