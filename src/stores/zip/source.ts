import type { Readable } from 'node:stream';
import type { SourceFactory } from '../../context.js';
import { MessageError, UsageError } from '../../errors.js';
import {
  MANIFEST_NAME,
  type ManifestMessage,
  type ParsedManifest,
  readManifest,
} from '../../formats/zip/manifest.js';
import { type CentralEntry, ZipReader } from '../../formats/zip/reader.js';
import { FLAG_ENCRYPTED, METHOD_DEFLATE, METHOD_STORE } from '../../formats/zip/structures.js';
import { messageIdOf } from '../../mail/headers.js';
import { bombReason } from '../../mail/limits.js';
import { isSafeRelativePath } from '../../mail/safe-names.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderStat,
  MessageMeta,
  Source,
  SourceCapabilities,
} from '../../types.js';

interface FolderContent {
  info: FolderInfo;
  messages: Array<{ meta: MessageMeta; entry: CentralEntry }>;
  skipped: Array<{ id: string; reason: string }>;
}

/** Where entries at the archive root (and unsafe ones) are reported. */
const ROOT_FOLDER = 'INBOX';
const HEADER_LIMIT = 64 << 10;

/**
 * Restore source over a zip archive: mailferry's own (folders, flags and dates from the
 * manifest) or any zip of .eml files (folders from entry paths). Entries whose names could
 * escape a directory are never opened; they are reported as skipped.
 */
class ZipSource implements Source {
  readonly capabilities: SourceCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    lazyIdentity: false,
    maxConnections: 1,
  };
  private readonly folders = new Map<string, FolderContent>();
  private readonly byEntry = new Map<string, CentralEntry>();

  constructor(private readonly reader: ZipReader) {}

  async load(): Promise<void> {
    const manifestEntry = this.reader.entries.findLast((e) => e.name === MANIFEST_NAME);
    const manifest: ParsedManifest = manifestEntry
      ? await readManifest(await this.reader.openEntry(manifestEntry))
      : { folders: [], messages: new Map() };
    for (const f of manifest.folders) {
      this.folder(f.name, f.delimiter).info = folderInfo(f.name, f.delimiter, f.specialUse, f.subscribed);
    }
    const unsafe: Array<{ id: string; reason: string }> = [];
    for (const e of this.reader.entries) {
      if (e === manifestEntry || e.name.endsWith('/')) continue;
      if (!isSafeRelativePath(e.name)) {
        unsafe.push({ id: e.name, reason: 'entry name could escape the archive root; not opened' });
        continue;
      }
      const m = manifest.messages.get(e.name);
      if (!m && !/\.eml$/i.test(e.name)) continue; // not mail: a README or the like
      const folder = this.folder(m?.folder ?? folderOfPath(e.name));
      const problem = this.byEntry.has(e.name) ? 'duplicate entry name' : unsupported(e);
      if (problem) {
        folder.skipped.push({ id: e.name, reason: problem });
        continue;
      }
      this.byEntry.set(e.name, e);
      folder.messages.push({ meta: messageMeta(e, m), entry: e });
    }
    for (const m of manifest.messages.values()) {
      if (!this.byEntry.has(m.entry) && isSafeRelativePath(m.entry)) {
        this.folder(m.folder).skipped.push({
          id: m.entry,
          reason: 'listed in the manifest but missing from the archive',
        });
      }
    }
    if (unsafe.length)
      this.folder(this.folders.has(ROOT_FOLDER) ? ROOT_FOLDER : this.firstFolder()).skipped.push(...unsafe);
  }

  async listFolders(): Promise<FolderInfo[]> {
    return [...this.folders.values()].map((f) => ({ ...f.info }));
  }

  async inventory(folder: FolderInfo): Promise<FolderInventory> {
    const content = this.folders.get(folder.name);
    if (!content) return { folder, messages: [] };
    for (const m of content.messages) {
      // A manifest written without a known Message-ID must not make identity depend on the writer.
      if (m.meta.messageId === undefined) m.meta.messageId = await this.messageIdOf(m.entry);
    }
    const inv: FolderInventory = {
      folder: { ...content.info },
      messages: content.messages.map((m) => ({ ...m.meta })),
    };
    if (content.skipped.length) inv.skipped = content.skipped.map((s) => ({ ...s }));
    return inv;
  }

  async open(_folder: FolderInfo, message: MessageMeta): Promise<Readable> {
    const entry = this.byEntry.get(message.id);
    if (!entry) throw new MessageError('EGONE', `${message.id} is not in ${this.reader.path}`);
    return this.reader.openEntry(entry);
  }

  async stat(): Promise<FolderStat[]> {
    return [...this.folders.values()].map((f) => ({
      folder: { ...f.info },
      messages: f.messages.length,
      bytes: f.messages.reduce((n, m) => n + m.entry.size, 0),
    }));
  }

  async close(): Promise<void> {
    await this.reader.close();
  }

  private folder(name: string, delimiter = '/'): FolderContent {
    let f = this.folders.get(name);
    if (!f) {
      f = { info: folderInfo(name, delimiter), messages: [], skipped: [] };
      this.folders.set(name, f);
    }
    return f;
  }

  private firstFolder(): string {
    return this.folders.keys().next().value ?? ROOT_FOLDER;
  }

  /** Message-ID from the entry's header block, read no further than HEADER_LIMIT. */
  private async messageIdOf(entry: CentralEntry): Promise<string | undefined> {
    const stream = await this.reader.openEntry(entry);
    let head = Buffer.alloc(0);
    try {
      for await (const chunk of stream) {
        head = Buffer.concat([head, chunk as Buffer]);
        if (head.length >= HEADER_LIMIT || /\r?\n\r?\n/.test(head.toString('latin1'))) break;
      }
    } catch {
      return undefined; // a broken entry fails again, with its reason, when it is copied
    } finally {
      stream.destroy();
    }
    return messageIdOf(head);
  }
}

function folderOfPath(entryName: string): string {
  const slash = entryName.lastIndexOf('/');
  return slash < 0 ? ROOT_FOLDER : entryName.slice(0, slash);
}

function folderInfo(
  name: string,
  delimiter: string,
  specialUse?: FolderInfo['specialUse'],
  subscribed?: boolean,
): FolderInfo {
  const info: FolderInfo = { name, delimiter, selectable: true };
  if (specialUse) info.specialUse = specialUse;
  if (subscribed !== undefined) info.subscribed = subscribed;
  return info;
}

function unsupported(e: CentralEntry): string | undefined {
  if (e.flags & FLAG_ENCRYPTED) return 'encrypted entry';
  const bomb = bombReason(e.size, e.compressedSize);
  if (bomb) return `entry ${bomb}`;
  if (e.method !== METHOD_STORE && e.method !== METHOD_DEFLATE)
    return `compression method ${e.method} not supported`;
  return undefined;
}

function messageMeta(e: CentralEntry, m: ManifestMessage | undefined): MessageMeta {
  const meta: MessageMeta = { id: e.name, size: e.size, flags: m ? [...m.flags] : [] };
  const date = m?.internalDate ? new Date(m.internalDate) : e.mtime;
  if (!Number.isNaN(date.getTime())) meta.internalDate = date;
  if (m?.messageId) meta.messageId = m.messageId;
  if (m?.sha256) meta.sha256 = m.sha256;
  return meta;
}

/** Open a zip archive as a restore source. */
export async function createZipSource(path: string): Promise<Source> {
  const source = new ZipSource(await ZipReader.open(path));
  try {
    await source.load();
  } catch (err) {
    await source.close();
    throw err;
  }
  return source;
}

export const openZipSource: SourceFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'zip') throw new UsageError(`zip source given a ${ctx.endpoint.kind} endpoint`);
  return createZipSource(ctx.endpoint.path);
};
