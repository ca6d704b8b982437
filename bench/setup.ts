import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { shippedCli } from '../test/helpers/shipped.js';
import { createAccount } from '../test/rig/accounts.js';
import type { RigInfo } from '../test/rig/dovecot.js';
import {
  corpusSize,
  DEFAULT_FOLDERS,
  type SeededMessage,
  type SeedSpec,
  seedAccount,
} from '../test/rig/seed.js';
import type { Account } from './peers.js';
import type { ManifestEntry } from './raw-append.js';
import { realisticFolders, realisticMessage, smallMessage } from './realistic.js';
import { seedGenerated } from './seed-generated.js';

export const CORPORA = ['spamassassin', 'realistic'] as const;
export type Corpus = (typeof CORPORA)[number];

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Command {
  cmd: string;
  args: string[];
  /** Environment the command needs (the bundle's shebang sets some). */
  env?: Record<string, string>;
}

/** A seeded source account and what the copies of it must contain. */
export interface SourceSet {
  /** Which corpus it was seeded from: the results group by it. */
  corpus: string;
  account: Account;
  messages: number;
  /** Raw bytes as stored (LF line ends), the basis of MB/s for every tool. */
  bytes: number;
  /** The same messages for raw-append, as CRLF files (what an IMAP/POP3 source serves). */
  manifest: string;
}

export interface BenchEnv {
  rig: RigInfo;
  work: string;
  n: number;
  corpus: Corpus;
  mailferry: Command;
  /** 'dist' when the build succeeded, else 'tsx' (slower start, bigger RSS). */
  mailferryBuild: 'dist' | 'tsx';
  rawAppend: Command;
  imap: SourceSet;
  pop3: SourceSet;
  /** One INBOX of many small messages (--big-folder), for the memory run. */
  bigFolder?: SourceSet;
  /** With --profile: every mailferry run writes a .cpuprofile under here, one folder per tool. */
  profileDir?: string;
}

/** DEFAULT_FOLDERS scaled to n messages, wrapping around the corpus when n exceeds it. */
export function scaledFolders(n: number): SeedSpec['folders'] {
  const total = DEFAULT_FOLDERS.reduce((s, f) => s + f.count, 0);
  const counts = DEFAULT_FOLDERS.map((f) => Math.floor((f.count * n) / total));
  counts[0]! += n - counts.reduce((s, c) => s + c, 0);
  return spread(DEFAULT_FOLDERS.map((f, i) => ({ name: f.name, count: counts[i]! })));
}

/** Splits folder counts into corpus-sized segments; a repeated segment is a duplicate message. */
export function spread(folders: Array<{ name: string; count: number }>, start = 0): SeedSpec['folders'] {
  const size = corpusSize();
  const out: SeedSpec['folders'] = [];
  let offset = start % size;
  for (const f of folders) {
    let left = f.count;
    while (left > 0) {
      const count = Math.min(left, size - offset);
      out.push({ name: f.name, count, offset });
      left -= count;
      offset = (offset + count) % size;
    }
  }
  return out;
}

let accountSeq = 0;

/** A new, empty rig account with a random password. */
export async function newAccount(rig: RigInfo, prefix: string, port: number): Promise<Account> {
  accountSeq += 1;
  const user = `${prefix}-${accountSeq}-${randomBytes(3).toString('hex')}`.toLowerCase();
  const password = `pw-${randomBytes(9).toString('hex')}`;
  await createAccount(rig, user, password);
  return { host: '127.0.0.1', port, user, password };
}

function writeManifest(dir: string, seeded: SeededMessage[], flags?: string[]): string {
  mkdirSync(dir, { recursive: true });
  const entries: ManifestEntry[] = seeded.map((m, i) => {
    const file = join(dir, `${i}.eml`);
    writeFileSync(file, Buffer.from(m.raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
    return { folder: m.folder, file, flags: flags ?? m.flags, internalDate: m.internalDate.toISOString() };
  });
  const manifest = join(dir, 'manifest.json');
  writeFileSync(manifest, JSON.stringify(entries));
  return manifest;
}

/** The realistic corpus (bench/realistic.ts), written straight to Maildir; seed 1 for IMAP, 2 for POP3. */
async function seedRealistic(
  rig: RigInfo,
  work: string,
  kind: 'imap' | 'pop3',
  n: number,
): Promise<SourceSet> {
  const port = kind === 'imap' ? rig.ports.imaps : rig.ports.pop3s;
  const account = await newAccount(rig, `bench-${kind}-real`, port);
  const seed = kind === 'imap' ? 1 : 2;
  const set = await seedGenerated(rig, account.user, {
    folders: kind === 'imap' ? realisticFolders(n) : [{ name: 'INBOX', count: n }],
    make: (i) => realisticMessage(seed, i),
    manifestDir: join(work, `raw-${kind}-realistic`),
    ...(kind === 'pop3' ? { flags: () => [], manifestFlags: ['\\Seen'] } : {}),
  });
  return { corpus: 'realistic', account, messages: set.messages, bytes: set.bytes, manifest: set.manifest! };
}

/** One INBOX of n small text messages (no raw-append copies: only mailferry's memory is asked). */
export async function seedBigFolder(rig: RigInfo, n: number): Promise<SourceSet> {
  const account = await newAccount(rig, 'bench-big', rig.ports.imaps);
  const set = await seedGenerated(rig, account.user, {
    folders: [{ name: 'INBOX', count: n }],
    make: (i) => smallMessage(3, i),
  });
  return { corpus: 'small', account, messages: set.messages, bytes: set.bytes, manifest: '' };
}

async function seedSource(
  rig: RigInfo,
  work: string,
  kind: 'imap' | 'pop3',
  n: number,
  corpus: Corpus,
): Promise<SourceSet> {
  if (corpus === 'realistic') return seedRealistic(rig, work, kind, n);
  // Every tool reads over implicit TLS, verified against the rig's CA: the same work for all.
  const port = kind === 'imap' ? rig.ports.imaps : rig.ports.pop3s;
  const account = await newAccount(rig, `bench-${kind}-src`, port);
  // The POP3 account takes other corpus messages than the IMAP one, as separate mailboxes would.
  const folders = kind === 'imap' ? scaledFolders(n) : spread([{ name: 'INBOX', count: n }], 3000);
  const seeded = await seedAccount(rig, account.user, { folders, flags: kind === 'imap' });
  const bytes = seeded.reduce((s, m) => s + m.raw.length, 0);
  // mailferry marks POP3 copies \Seen by default; raw-append does the same work.
  const manifest = writeManifest(join(work, `raw-${kind}`), seeded, kind === 'pop3' ? ['\\Seen'] : undefined);
  return { corpus: 'spamassassin', account, messages: seeded.length, bytes, manifest };
}

/** Builds dist/ for the benchmark; falls back to tsx when another engineer's file does not compile. */
function mailferryCommand(log: (l: string) => void): { command: Command; build: 'dist' | 'tsx' } {
  try {
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
    execFileSync(process.execPath, ['scripts/bundle.mjs'], { cwd: ROOT, stdio: 'pipe' });
    if (existsSync(join(ROOT, 'dist/mailferry.mjs'))) return { command: shippedCli(), build: 'dist' };
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '').split('\n')[0];
    log(`bench: build failed (${out}); running mailferry through tsx`);
  }
  return {
    command: { cmd: process.execPath, args: ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')] },
    build: 'tsx',
  };
}

/** raw-append as plain JS (it only uses node builtins), so its start-up costs what node's does. */
function rawAppendCommand(work: string): Command {
  const source = readFileSync(join(ROOT, 'bench/raw-append.ts'), 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = join(work, 'raw-append.mjs');
  writeFileSync(file, js);
  return { cmd: process.execPath, args: [file] };
}

/** The tools every corpus shares: mailferry (built once) and raw-append. */
export interface Tools {
  mailferry: Command;
  mailferryBuild: 'dist' | 'tsx';
  rawAppend: Command;
}

export function prepareTools(work: string, log: (l: string) => void): Tools {
  const { command, build } = mailferryCommand(log);
  return { mailferry: command, mailferryBuild: build, rawAppend: rawAppendCommand(work) };
}

export async function prepare(
  rig: RigInfo,
  work: string,
  n: number,
  corpus: Corpus,
  tools: Tools,
  log: (l: string) => void,
): Promise<BenchEnv> {
  const started = performance.now();
  const imap = await seedSource(rig, work, 'imap', n, corpus);
  const pop3 = await seedSource(rig, work, 'pop3', n, corpus);
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  log(
    `bench: ${corpus}: seeded ${imap.messages} IMAP (${mb(imap.bytes)} MB) and ${pop3.messages} POP3 messages (${mb(pop3.bytes)} MB) in ${Math.round(performance.now() - started)} ms`,
  );
  return { rig, work, n, corpus, ...tools, imap, pop3 };
}
