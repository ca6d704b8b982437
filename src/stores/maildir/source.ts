import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { SourceFactory } from '../../context.js';
import { FolderError, MessageError, UsageError } from '../../errors.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderStat,
  MessageMeta,
  Source,
  SourceCapabilities,
} from '../../types.js';
import { mapFsError, pathError } from '../../util/fs-errors.js';
import { type MaildirEntry, MaildirFolder } from './folder.js';
import { syncDir } from './fsync.js';
import { listTree } from './tree.js';

/**
 * Read a Maildir (ours, Dovecot's, mbsync's): folders from the `.A.B` directories, messages
 * from cur/ and new/ sorted by name. A message's id is its unique name (the part before ':'),
 * which stays put when another program changes its flags; open() finds it again if so.
 */
class MaildirSource implements Source {
  readonly capabilities: SourceCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    lazyIdentity: false,
    maxConnections: 1,
  };
  readonly namespace = { prefix: '', delimiter: '/' };
  private readonly scanned = new Map<string, Promise<Map<string, MaildirEntry>>>();

  constructor(private readonly root: string) {}

  listFolders(): Promise<FolderInfo[]> {
    return listTree(this.root);
  }

  async inventory(folder: FolderInfo): Promise<FolderInventory> {
    this.scanned.delete(folder.name);
    const entries = await this.entries(folder.name);
    return { folder: { ...folder }, messages: [...entries.values()].map((e) => ({ ...e.meta })) };
  }

  async open(folder: FolderInfo, message: MessageMeta): Promise<Readable> {
    let entry = (await this.entries(folder.name)).get(message.id);
    let path = entry && join(this.folderOf(folder.name).dir, entry.file);
    if (!path || !(await stat(path).catch(() => undefined))) {
      // Renamed by a flag change elsewhere, or gone: look once more.
      this.scanned.delete(folder.name);
      entry = (await this.entries(folder.name)).get(message.id);
      path = entry && join(this.folderOf(folder.name).dir, entry.file);
    }
    if (!path)
      throw new MessageError('EGONE', `message ${message.id} is not in Maildir folder '${folder.name}'`);
    return createReadStream(path);
  }

  async delete(folder: FolderInfo, messages: MessageMeta[]): Promise<void> {
    const entries = await this.entries(folder.name);
    const dir = this.folderOf(folder.name).dir;
    try {
      for (const m of messages) {
        const entry = entries.get(m.id);
        if (entry) await unlink(join(dir, entry.file));
        entries.delete(m.id);
      }
      await syncDir(join(dir, 'cur'));
      await syncDir(join(dir, 'new'));
    } catch (err) {
      throw mapFsError(err, `deleting from Maildir folder '${folder.name}'`);
    }
  }

  async stat(): Promise<FolderStat[]> {
    const out: FolderStat[] = [];
    for (const f of await this.listFolders()) {
      const messages = [...(await this.entries(f.name)).values()];
      out.push({
        folder: f,
        messages: messages.length,
        bytes: messages.reduce((n, e) => n + e.meta.size, 0),
      });
    }
    return out;
  }

  async close(): Promise<void> {
    this.scanned.clear();
  }

  private folderOf(name: string): MaildirFolder {
    return new MaildirFolder(this.root, name);
  }

  private entries(name: string): Promise<Map<string, MaildirEntry>> {
    let p = this.scanned.get(name);
    if (!p) {
      const folder = this.folderOf(name);
      p = (async () => {
        if (!(await folder.exists()))
          throw new FolderError('ENOFOLDER', `no folder '${name}' in ${this.root}`);
        return new Map((await folder.scan()).map((e) => [e.meta.id, e]));
      })();
      p.catch(() => this.scanned.delete(name));
      this.scanned.set(name, p);
    }
    return p;
  }
}

export const openMaildirSource: SourceFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'maildir') throw new UsageError(`not a Maildir endpoint: ${ctx.endpoint.kind}`);
  const root = ctx.endpoint.path;
  const info = await stat(root).catch((err: unknown) => {
    throw pathError(err, `read the Maildir ${root}`);
  });
  if (!info.isDirectory()) {
    throw new UsageError(`Maildir source ${root} is not a directory`, { hint: 'name a Maildir directory' });
  }
  return new MaildirSource(root);
};
