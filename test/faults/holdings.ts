/**
 * What a sink holds, read back independently of mailferry: an IMAP account with imapflow, a zip
 * with yauzl, an mbox directory with a plain mboxrd reader. Messages are compared as multisets
 * of CRLF-normalised SHA-256 per folder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import yauzl from 'yauzl';
import { crlfSha256 } from '../../src/mail/hash.js';
import type { RigInfo } from '../rig/dovecot.js';

/** Folder name to the SHA-256 of every message in it, duplicates included. */
export type Holdings = Map<string, string[]>;

export interface Tally {
  lost: number;
  duplicated: number;
  detail: string;
}

/** Multiset difference per folder, by CRLF-normalised SHA-256. */
export function tally(want: Holdings, got: Holdings): Tally {
  let lost = 0;
  let duplicated = 0;
  const detail: string[] = [];
  for (const folder of new Set([...want.keys(), ...got.keys()])) {
    const w = counts(want.get(folder) ?? []);
    const g = counts(got.get(folder) ?? []);
    let l = 0;
    let d = 0;
    for (const [sha, n] of w) l += Math.max(0, n - (g.get(sha) ?? 0));
    for (const [sha, n] of g) d += Math.max(0, n - (w.get(sha) ?? 0));
    if (l || d) detail.push(`${folder}: ${l} lost, ${d} extra`);
    lost += l;
    duplicated += d;
  }
  return { lost, duplicated, detail: detail.join('; ') };
}

function counts(shas: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of shas) m.set(s, (m.get(s) ?? 0) + 1);
  return m;
}

/** Every selectable folder of an account on `rig`, over IMAPS with imapflow. */
export async function readImap(rig: RigInfo, acc: { user: string; password: string }): Promise<Holdings> {
  const client = new ImapFlow({
    host: rig.host,
    port: rig.ports.imaps,
    secure: true,
    auth: { user: acc.user, pass: acc.password },
    logger: false,
    tls: { ca: [readFileSync(rig.caFile, 'utf8')] },
  });
  await client.connect();
  const out: Holdings = new Map();
  try {
    for (const box of await client.list()) {
      if (box.flags.has('\\Noselect')) continue;
      const lock = await client.getMailboxLock(box.path, { readOnly: true });
      const shas: string[] = [];
      try {
        for await (const m of client.fetch('1:*', { uid: true, source: true })) {
          if (m.source) shas.push(crlfSha256(m.source));
        }
      } finally {
        lock.release();
      }
      if (shas.length) out.set(box.path, shas);
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
  return out;
}

/** Zip: every .eml entry hashed from its bytes, filed under the folder the manifest names. */
export async function readZip(path: string): Promise<Holdings> {
  const entries = await zipEntries(path);
  const manifest = entries.get('mailferry-manifest.jsonl')?.toString('utf8') ?? '';
  const folderOf = new Map<string, string>();
  for (const line of manifest.split('\n').filter(Boolean)) {
    const rec = JSON.parse(line) as { type: string; entry?: string; folder?: string };
    if (rec.type === 'message' && rec.entry) folderOf.set(rec.entry, rec.folder ?? '?');
  }
  const out: Holdings = new Map();
  for (const [name, data] of entries) {
    if (!name.endsWith('.eml')) continue;
    const folder = folderOf.get(name) ?? `(not in manifest) ${name}`;
    out.set(folder, [...(out.get(folder) ?? []), crlfSha256(data)]);
  }
  return out;
}

function zipEntries(path: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, strictFileNames: false }, (err, zip) => {
      if (err || !zip) return reject(err);
      const out = new Map<string, Buffer>();
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e2, stream) => {
          if (e2 || !stream) return reject(e2);
          const parts: Buffer[] = [];
          stream.on('data', (d: Buffer) => parts.push(d));
          stream.on('error', reject);
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(parts));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

const SIDECAR = '.mbox.mailferry.jsonl';

/**
 * mbox: each sidecar names its folder and where each message's quoted bytes lie; the bytes are
 * unquoted here (mboxrd: one '>' off every />+From / line). "From " separators in the file that
 * no sidecar line accounts for count as extra messages.
 */
export function readMbox(dir: string): Holdings {
  const out: Holdings = new Map();
  for (const side of findFiles(dir, SIDECAR)) {
    const lines = readFileSync(side, 'utf8').split('\n').filter(Boolean);
    const recs = lines.map(
      (l) => JSON.parse(l) as { type: string; name?: string; start: number; stored: number },
    );
    const folder = recs.find((r) => r.type === 'folder')?.name ?? side;
    const mbox = readFileSync(side.slice(0, -'.mailferry.jsonl'.length));
    const msgs = recs.filter((r) => r.type === 'msg');
    const shas = msgs.map((m) => {
      const quoted = mbox.subarray(m.start, m.start + m.stored).toString('latin1');
      return crlfSha256(Buffer.from(quoted.replace(/(^|\n)>(>*From )/g, '$1$2'), 'latin1'));
    });
    const separators = (mbox.toString('latin1').match(/(^|\n)From /g) ?? []).length;
    for (let i = msgs.length; i < separators; i++) shas.push(`unindexed-${i}`);
    out.set(folder, [...(out.get(folder) ?? []), ...shas]);
  }
  return out;
}

function findFiles(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return findFiles(full, suffix);
    return e.isFile() && e.name.endsWith(suffix) ? [full] : [];
  });
}
