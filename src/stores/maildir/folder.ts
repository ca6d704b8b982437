import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crlfSha256Stream } from '../../mail/hash.js';
import { messageIdOf } from '../../mail/headers.js';
import type { MessageMeta } from '../../types.js';
import { flagsOf, ownPid, parseName } from './filename.js';
import { DirSyncer, replaceFile, syncDir } from './fsync.js';
import { folderDir, isInbox } from './names.js';

/** Header bytes read to find the Message-ID; a longer header block has none we look for. */
const HEAD_BYTES = 64 * 1024;
/** The Maildir spec's age after which a file left in tmp/ is garbage, whoever wrote it. */
const TMP_MAX_AGE_MS = 36 * 3600 * 1000;
export const KEYWORDS_FILE = 'dovecot-keywords';
/** Dovecot's limit: one lowercase letter per keyword. */
const MAX_KEYWORDS = 26;

/** One message file: where it is now (`cur/…` or `new/…`) and what the name and stat say. */
export interface MaildirEntry {
  meta: MessageMeta;
  /** Path relative to the folder directory. */
  file: string;
}

/** One Maildir folder on disk: cur/, new/, tmp/, its keyword list. */
export class MaildirFolder {
  readonly dir: string;
  readonly cur: DirSyncer;
  keywords: string[] = [];
  private keywordsWrite: Promise<void> = Promise.resolve();

  constructor(
    root: string,
    readonly name: string,
  ) {
    this.dir = join(root, folderDir(name));
    this.cur = new DirSyncer(join(this.dir, 'cur'));
  }

  async exists(): Promise<boolean> {
    return (await stat(join(this.dir, 'cur')).catch(() => undefined))?.isDirectory() ?? false;
  }

  /** cur/, new/, tmp/ and (for subfolders) the `maildirfolder` marker, made durable. */
  async create(root: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const sub of ['tmp', 'new', 'cur'])
      await mkdir(join(this.dir, sub), { recursive: true, mode: 0o700 });
    if (!isInbox(this.name)) await writeFile(join(this.dir, 'maildirfolder'), '', { mode: 0o600 });
    await syncDir(this.dir);
    if (this.dir !== root) await syncDir(root);
  }

  async loadKeywords(): Promise<void> {
    const text = await readFile(join(this.dir, KEYWORDS_FILE), 'utf8').catch(() => '');
    const list: string[] = [];
    for (const line of text.split('\n')) {
      const m = /^(\d+) (.+)$/.exec(line);
      if (m && Number(m[1]) < MAX_KEYWORDS) list[Number(m[1])] = m[2]!;
    }
    this.keywords = list;
  }

  /** The keyword's index, adding it if there is room; undefined when all 26 are taken. */
  keywordIndex(keyword: string): number | undefined {
    const known = this.keywords.findIndex((k) => k?.toLowerCase() === keyword.toLowerCase());
    if (known >= 0) return known;
    let free = 0;
    while (free < MAX_KEYWORDS && this.keywords[free] !== undefined) free++;
    if (free >= MAX_KEYWORDS) return undefined;
    this.keywords[free] = keyword;
    this.keywordsWrite = this.keywordsWrite.then(() => this.writeKeywords());
    return free;
  }

  /** Resolves once every keyword added so far is durable (before a file may name its letter). */
  keywordsDurable(): Promise<void> {
    return this.keywordsWrite;
  }

  private writeKeywords(): Promise<void> {
    const text = this.keywords.map((k, i) => (k === undefined ? '' : `${i} ${k}\n`)).join('');
    return replaceFile(join(this.dir, KEYWORDS_FILE), this.dir, text);
  }

  /** Every message in cur/ and new/, sorted by file name; a name in both counts once (cur/). */
  async scan(): Promise<MaildirEntry[]> {
    await this.loadKeywords();
    const seen = new Map<string, MaildirEntry>();
    for (const sub of ['cur', 'new']) {
      const names = await readdir(join(this.dir, sub)).catch(() => [] as string[]);
      for (const file of names.sort()) {
        if (file.startsWith('.')) continue;
        const entry = await this.entry(`${sub}/${file}`);
        if (entry && !seen.has(entry.meta.id)) seen.set(entry.meta.id, entry);
      }
    }
    return [...seen.values()].sort((a, b) => (a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0));
  }

  /** Meta of one file; undefined when it vanished meanwhile (another program moved it). */
  private async entry(file: string): Promise<MaildirEntry | undefined> {
    const path = join(this.dir, file);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    const parsed = parseName(file.slice(4));
    const head = await readHead(path);
    const meta: MessageMeta = {
      id: parsed.unique,
      size: parsed.crlfSize ?? (await crlfSha256Stream(createReadStream(path))).bytes,
      flags: flagsOf(parsed.letters, this.keywords),
      internalDate: new Date(Math.floor(st.mtimeMs)),
    };
    const messageId = messageIdOf(head);
    if (messageId) meta.messageId = messageId;
    return { meta, file };
  }

  /**
   * Remove what a killed run left in tmp/: our own files whose process is gone, and any file
   * older than the spec's 36 hours. Another program's fresh delivery is left alone.
   */
  async cleanTmp(now = Date.now()): Promise<number> {
    const tmp = join(this.dir, 'tmp');
    let removed = 0;
    for (const file of await readdir(tmp).catch(() => [] as string[])) {
      const path = join(tmp, file);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile()) continue;
      const pid = ownPid(parseName(file).unique);
      const orphan = pid !== undefined && pid !== process.pid && !alive(pid);
      if (orphan || now - st.mtimeMs > TMP_MAX_AGE_MS) {
        await unlink(path).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
