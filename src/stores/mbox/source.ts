import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import type { SourceFactory } from '../../context.js';
import { FolderError, MessageError, UsageError } from '../../errors.js';
import { MboxrdTransform } from '../../formats/mbox/mboxrd.js';
import { type ScannedMessage, scanMbox } from '../../formats/mbox/scan.js';
import { metaOf, readSidecar } from '../../formats/mbox/sidecar.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderStat,
  MessageMeta,
  Source,
  SourceCapabilities,
} from '../../types.js';
import { discoverFolders, type FoundFolder } from './discover.js';

/**
 * Restore from mbox: mailferry's own directories (folders, flags and dates from the sidecar,
 * messages found by offset) and any plain mbox, scanned once. Both are read as mboxrd, so
 * open() hands out exactly the bytes mailferry was given. Ids are the From line's offset.
 */

interface Location {
  start: number;
  stored: number;
}

interface Loaded {
  inventory: FolderInventory;
  where: Map<string, Location>;
}

class MboxSource implements Source {
  readonly capabilities: SourceCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    lazyIdentity: false,
    maxConnections: 1,
  };
  private found: Promise<FoundFolder[]> | undefined;
  private readonly loaded = new Map<string, Promise<Loaded>>();

  constructor(private readonly root: string) {}

  async listFolders(): Promise<FolderInfo[]> {
    return (await this.discover()).map((f) => ({ ...f.info }));
  }

  async inventory(folder: FolderInfo): Promise<FolderInventory> {
    return (await this.load(folder.name)).inventory;
  }

  async open(folder: FolderInfo, message: MessageMeta): Promise<Readable> {
    const loaded = await this.load(folder.name);
    const where = loaded.where.get(message.id);
    const found = (await this.discover()).find((f) => f.info.name === folder.name);
    if (!where || !found?.path) {
      throw new MessageError('EGONE', `message ${message.id} is not in mbox folder '${folder.name}'`);
    }
    const out = new MboxrdTransform('unquote');
    if (where.stored === 0) {
      const empty = new PassThrough();
      empty.end();
      return empty.pipe(out);
    }
    const file = createReadStream(found.path, { start: where.start, end: where.start + where.stored - 1 });
    // pipeline() carries a read error into the stream we hand out.
    pipeline(file, out, () => {});
    return out;
  }

  async stat(): Promise<FolderStat[]> {
    const out: FolderStat[] = [];
    for (const f of await this.discover()) {
      const { messages } = await this.inventory(f.info);
      out.push({
        folder: f.info,
        messages: messages.length,
        bytes: messages.reduce((n, m) => n + m.size, 0),
      });
    }
    return out;
  }

  async close(): Promise<void> {
    this.loaded.clear();
  }

  private discover(): Promise<FoundFolder[]> {
    this.found ??= discoverFolders(this.root);
    return this.found;
  }

  /** Inventory once per session; open() on a fresh session loads the folder first. */
  private load(name: string): Promise<Loaded> {
    let p = this.loaded.get(name);
    if (!p) {
      p = this.discover().then((all) => {
        const found = all.find((f) => f.info.name === name);
        if (!found) throw new FolderError('ENOFOLDER', `no folder '${name}' in ${this.root}`);
        return loadFolder(found);
      });
      this.loaded.set(name, p);
    }
    return p;
  }
}

async function loadFolder(found: FoundFolder): Promise<Loaded> {
  const inventory: FolderInventory = { folder: { ...found.info }, messages: [] };
  const where = new Map<string, Location>();
  if (!found.path) {
    inventory.skipped = [{ id: found.info.name, reason: found.unsafe ?? 'not readable' }];
    return { inventory, where };
  }
  if (!found.sidecar) {
    for (const m of await scanMbox(found.path)) {
      inventory.messages.push(scannedMeta(m));
      where.set(String(m.offset), { start: m.start, stored: m.stored });
    }
    return { inventory, where };
  }
  const size = (await stat(found.path)).size;
  const state = await readSidecar(found.sidecar);
  const skipped: Array<{ id: string; reason: string }> = [];
  for (const m of state.messages) {
    if (m.end > size) {
      skipped.push({ id: m.id, reason: 'the sidecar names bytes beyond the end of the file' });
      continue;
    }
    inventory.messages.push(metaOf(m));
    where.set(m.id, { start: m.start, stored: m.stored });
  }
  // Bytes no sidecar line covers are an unfinished write (or an edit); never hand them out.
  if (size > state.end) {
    const reason = `${size - state.end} bytes after the last recorded message (an interrupted run or an edit)`;
    skipped.push({ id: String(state.end), reason });
  }
  if (skipped.length) inventory.skipped = skipped;
  return { inventory, where };
}

function scannedMeta(m: ScannedMessage): MessageMeta {
  const meta: MessageMeta = { id: String(m.offset), size: m.size, flags: m.flags };
  if (m.messageId) meta.messageId = m.messageId;
  if (m.internalDate) meta.internalDate = m.internalDate;
  return meta;
}

export const openMboxSource: SourceFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'mbox') throw new UsageError(`not an mbox endpoint: ${ctx.endpoint.kind}`);
  const source = new MboxSource(ctx.endpoint.path);
  // Fail early (exit 2) when the path is missing or unreadable.
  await source.listFolders();
  return source;
};
