import { rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SinkFactory } from '../../context.js';
import { MessageError, UsageError } from '../../errors.js';
import { identityKey } from '../../mail/message-id.js';
import type {
  AppendInput,
  AppendResult,
  FolderInfo,
  FolderInventory,
  MessageMeta,
  Sink,
  SinkCapabilities,
} from '../../types.js';
import { mapFsError, pathError } from '../../util/fs-errors.js';
import type { Logger } from '../../util/log.js';
import { mkdirp } from '../../util/path-kinds.js';
import { deliver } from './deliver.js';
import { fileName, lettersOf, parseName } from './filename.js';
import { type MaildirEntry, MaildirFolder } from './folder.js';
import { isInbox } from './names.js';
import { listTree, readSubscriptions, writeSubscriptions } from './tree.js';

/**
 * The Maildir sink (Maildir++ as Dovecot writes it). Each append() is its own delivery
 * (tmp/, fsync, rename into cur/, fsync cur/), so appends run side by side; cur/'s fsyncs
 * are grouped. The inventory is the folder's files: ids are the unique names, sizes the
 * `,W=` CRLF sizes, dates the mtimes, Message-IDs read from each file's header.
 */
class MaildirSink implements Sink {
  readonly capabilities: SinkCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    maxConnections: 1,
  };
  readonly namespace = { prefix: '', delimiter: '/' };
  private readonly folders = new Map<string, Promise<MaildirFolder>>();
  /** Entries per folder once scanned; appends add to them. */
  private readonly entries = new Map<string, Map<string, MaildirEntry>>();
  private subscriptions: Promise<Set<string>> | undefined;
  private subscribing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  /** Clean what killed runs left in tmp/ of every folder. */
  async load(): Promise<void> {
    for (const info of await listTree(this.root)) {
      const removed = await new MaildirFolder(this.root, info.name).cleanTmp();
      if (removed)
        this.log.info(`Maildir folder '${info.name}': removed ${removed} unfinished file(s) from tmp/`);
    }
  }

  listFolders(): Promise<FolderInfo[]> {
    return listTree(this.root);
  }

  async ensureFolder(info: FolderInfo): Promise<void> {
    await this.folder(info.name, true);
    if (!info.subscribed || isInbox(info.name)) return;
    this.subscriptions ??= readSubscriptions(this.root);
    const subs = await this.subscriptions;
    if (subs.has(info.name)) return;
    subs.add(info.name);
    this.subscribing = this.subscribing.then(() => writeSubscriptions(this.root, subs));
    await this.subscribing;
  }

  async inventory(name: string): Promise<FolderInventory | undefined> {
    const folder = await this.folder(name, false);
    if (!folder) return undefined;
    const entries = await this.scan(folder, true);
    return {
      folder: { name, delimiter: '/', selectable: true },
      messages: [...entries.values()].map((e) => ({ ...e.meta, flags: [...e.meta.flags] })),
    };
  }

  async append(input: AppendInput): Promise<AppendResult> {
    if (this.closed) throw new UsageError('the Maildir sink is already closed');
    const folder = (await this.folder(input.folder, true))!;
    const { result, entry } = await deliver(folder, input);
    this.entries.get(folder.name)?.set(entry.meta.id, entry);
    return result;
  }

  /** Messages with this identity, read from disk again: an unanswered append may have landed. */
  async find(name: string, meta: MessageMeta): Promise<string[]> {
    const folder = await this.folder(name, false);
    if (!folder) return [];
    const key = identityKey(meta);
    const entries = await this.scan(folder, true);
    return [...entries.values()].filter((e) => identityKey(e.meta) === key).map((e) => e.meta.id);
  }

  async setFlags(name: string, id: string, flags: string[]): Promise<void> {
    const folder = await this.folder(name, false);
    const entries = folder ? await this.scan(folder, false) : undefined;
    const entry = entries?.get(id);
    if (!folder || !entry) throw new MessageError('EGONE', `no message ${id} in Maildir folder '${name}'`);
    const parsed = parseName(entry.file.slice(4));
    const { letters } = lettersOf(flags, (k) => folder.keywordIndex(k));
    await folder.keywordsDurable();
    const size = parsed.fileSize ?? (await stat(join(folder.dir, entry.file))).size;
    const target = `cur/${fileName(parsed.unique, size, parsed.crlfSize ?? entry.meta.size, letters)}`;
    try {
      await rename(join(folder.dir, entry.file), join(folder.dir, target));
      await folder.cur.sync();
    } catch (err) {
      throw mapFsError(err, `changing flags in Maildir folder '${name}'`);
    }
    entry.file = target;
    entry.meta.flags = [...flags];
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.subscribing.catch(() => undefined);
  }

  private async scan(folder: MaildirFolder, fresh: boolean): Promise<Map<string, MaildirEntry>> {
    const known = this.entries.get(folder.name);
    if (known && !fresh) return known;
    const map = new Map((await folder.scan()).map((e) => [e.meta.id, e]));
    this.entries.set(folder.name, map);
    return map;
  }

  /** The folder, created on first use when `create`; concurrent callers share one creation. */
  private async folder(name: string, create: boolean): Promise<MaildirFolder | undefined> {
    let p = this.folders.get(name);
    if (!p) {
      const folder = new MaildirFolder(this.root, name);
      if (!create && !(await folder.exists())) return undefined;
      p = (async () => {
        try {
          if (!(await folder.exists())) await folder.create(this.root);
          await folder.loadKeywords();
          return folder;
        } catch (err) {
          this.folders.delete(name);
          throw mapFsError(err, `creating Maildir folder '${name}'`);
        }
      })();
      this.folders.set(name, p);
    }
    return p;
  }
}

export const openMaildirSink: SinkFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'maildir') throw new UsageError(`not a Maildir endpoint: ${ctx.endpoint.kind}`);
  const root = ctx.endpoint.path;
  const info = await stat(root).catch(() => undefined);
  if (info && !info.isDirectory()) {
    throw new UsageError(`Maildir sink ${root} is not a directory`, {
      hint: 'a Maildir is a directory (cur/, new/, tmp/ and .Folder directories); name a new or existing one',
    });
  }
  try {
    await mkdirp(root);
    await new MaildirFolder(root, 'INBOX').create(root);
    const sink = new MaildirSink(root, ctx.log);
    await sink.load();
    return sink;
  } catch (err) {
    throw mapFsError(pathError(err, `open the Maildir sink ${root}`), `opening Maildir sink ${root}`);
  }
};
