import { existsSync, statSync } from 'node:fs';
import type { SinkFactory } from '../../context.js';
import { MessageError, UsageError } from '../../errors.js';
import type { JournalRecord } from '../../formats/zip/journal.js';
import {
  type EntryMeta,
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  type ManifestFolder,
  type ManifestLine,
  manifestStream,
} from '../../formats/zip/manifest.js';
import { rebuildJournal } from '../../formats/zip/rebuild.js';
import { journalPathOf, ZipWriter, type ZipWriterOptions } from '../../formats/zip/writer.js';
import { CrlfHasher } from '../../mail/hash.js';
import { SafePathAllocator } from '../../mail/safe-names.js';
import type {
  AppendInput,
  AppendResult,
  FolderInfo,
  FolderInventory,
  MessageMeta,
  Sink,
  SinkCapabilities,
  SpecialUse,
} from '../../types.js';
import { pathError } from '../../util/fs-errors.js';
import type { Logger } from '../../util/log.js';
import { silentLogger } from '../../util/log.js';

export type ZipSinkOptions = ZipWriterOptions;

interface FolderState {
  info: ManifestFolder;
  messages: MessageMeta[];
  lastNumber: number;
  /** The journal note that created or changed it (awaited before an append into it resolves). */
  ready: Promise<void>;
}

const MESSAGE_FILE = /^(\d+)\.eml$/i;

/**
 * Zip archive sink: one .eml entry per message under its folder's safe path, a manifest and
 * the central directory written on close. Resumable and incremental through ZipWriter's journal,
 * which is also the inventory: a re-run skips what the archive already holds.
 */
class ZipSink implements Sink {
  readonly capabilities: SinkCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    maxConnections: 1,
  };
  /** Files have no prefix; folder paths use '/' whatever the source's delimiter. */
  readonly namespace = { prefix: '', delimiter: '/' };
  private readonly folders = new Map<string, FolderState>();
  /** Entry name -> its folder and inventory record (flag changes update it in place). */
  private readonly byEntry = new Map<string, { folder: string; meta: MessageMeta }>();
  private readonly sourceIds = new Map<string, string>();
  // A folder segment must never equal a message file name or, at the top, the manifest.
  private readonly paths = new SafePathAllocator({
    isReserved: (seg, depth) =>
      MESSAGE_FILE.test(seg) || (depth === 0 && seg.toLowerCase() === MANIFEST_NAME),
  });
  private created = new Date().toISOString();

  constructor(private readonly writer: ZipWriter) {}

  /** Rebuild folders and inventories from the journal. */
  load(records: JournalRecord[]): void {
    for (const rec of records) {
      if (rec.t === 'head') this.created = rec.created;
      if (rec.t === 'note' && rec.kind === 'folder') this.loadFolder(rec as unknown as ManifestFolder);
      if (rec.t === 'note' && rec.kind === 'flags') {
        const msg = this.byEntry.get(String(rec.entry));
        if (msg && Array.isArray(rec.flags)) msg.meta.flags = rec.flags.map(String);
      }
      if (rec.t === 'entry' && rec.meta) this.loadEntry(rec.name, rec.size, rec.meta as unknown as EntryMeta);
    }
  }

  async listFolders(): Promise<FolderInfo[]> {
    return [...this.folders.values()].map((f) => toFolderInfo(f.info));
  }

  async ensureFolder(folder: FolderInfo): Promise<void> {
    const known = this.folders.get(folder.name);
    if (!known) {
      await this.addFolder(folder).state.ready;
      return;
    }
    const changed =
      (folder.specialUse !== undefined && folder.specialUse !== known.info.specialUse) ||
      (folder.subscribed !== undefined && folder.subscribed !== known.info.subscribed);
    if (!changed) return;
    known.info = { ...known.info, specialUse: folder.specialUse ?? known.info.specialUse };
    if (folder.subscribed !== undefined) known.info.subscribed = folder.subscribed;
    known.ready = this.writer.note({ kind: 'folder', ...known.info });
    await known.ready;
  }

  async inventory(folder: string): Promise<FolderInventory | undefined> {
    const state = this.folders.get(folder);
    if (!state) return undefined;
    return { folder: toFolderInfo(state.info), messages: state.messages.map((m) => ({ ...m })) };
  }

  async append(input: AppendInput): Promise<AppendResult> {
    const state =
      this.folders.get(input.folder) ?? this.addFolder({ name: input.folder, delimiter: '/' }).state;
    state.lastNumber++;
    const name = `${state.info.path}/${String(state.lastNumber).padStart(6, '0')}.eml`;
    const hasher = new CrlfHasher();
    const internalDate = input.internalDate ?? input.meta.internalDate;
    let meta: EntryMeta | undefined;
    const written = this.writer.addEntry(
      {
        name,
        mtime: internalDate ?? new Date(),
        sizeHint: input.meta.size,
        onData: (chunk) => hasher.update(chunk),
        meta: () => {
          meta = {
            folder: input.folder,
            flags: [...input.flags],
            internalDate: internalDate?.toISOString(),
            sha256: hasher.digest(),
            messageId: input.meta.messageId,
            sourceId: input.meta.id,
          };
          return { ...meta };
        },
      },
      input.body,
    );
    const [entry] = await Promise.all([written, state.ready]);
    if (!meta) throw new Error(`zip sink: ${name} written without metadata`);
    this.remember(state, name, entry.size, meta);
    return { id: name, sha256: meta.sha256 };
  }

  async setFlags(folder: string, id: string, flags: string[]): Promise<void> {
    const msg = this.byEntry.get(id);
    if (msg?.folder !== folder)
      throw new MessageError('EGONE', `no message ${id} in folder ${folder} of the archive`);
    msg.meta.flags = [...flags];
    await this.writer.note({ kind: 'flags', entry: id, flags });
  }

  async close(): Promise<void> {
    try {
      await this.writer.finish(() => ({
        options: { name: MANIFEST_NAME, mtime: new Date() },
        body: manifestStream(this.manifestLines()),
      }));
    } finally {
      await this.writer.close();
    }
  }

  private *manifestLines(): Generator<ManifestLine> {
    const updated = new Date().toISOString();
    yield { type: 'archive', format: MANIFEST_FORMAT, version: 1, created: this.created, updated };
    for (const f of this.folders.values()) yield f.info;
    for (const f of this.folders.values()) {
      for (const m of f.messages) {
        yield {
          type: 'message',
          entry: m.id,
          folder: f.info.name,
          specialUse: f.info.specialUse,
          flags: m.flags,
          internalDate: m.internalDate?.toISOString(),
          size: m.size,
          sha256: m.sha256 ?? '',
          messageId: m.messageId,
          sourceId: this.sourceIds.get(m.id),
        };
      }
    }
  }

  private remember(state: FolderState, name: string, size: number, meta: EntryMeta): void {
    const message = toMessageMeta(name, size, meta);
    state.messages.push(message);
    state.lastNumber = Math.max(state.lastNumber, numberOf(name));
    this.byEntry.set(name, { folder: meta.folder, meta: message });
    if (meta.sourceId !== undefined) this.sourceIds.set(name, meta.sourceId);
  }

  private loadEntry(name: string, size: number, meta: EntryMeta): void {
    // Folder notes precede their entries; without one, the entry's directory is the path.
    const state =
      this.folders.get(meta.folder) ??
      this.loadFolder({
        type: 'folder',
        name: meta.folder,
        delimiter: '/',
        path: name.slice(0, name.lastIndexOf('/')),
      });
    this.remember(state, name, size, meta);
  }

  private loadFolder(rec: ManifestFolder): FolderState {
    const info: ManifestFolder = {
      type: 'folder',
      name: rec.name,
      delimiter: rec.delimiter,
      path: rec.path,
      specialUse: rec.specialUse,
      subscribed: rec.subscribed,
    };
    this.paths.reserve(SafePathAllocator.split(info.name, info.delimiter), info.path.split('/'));
    const known = this.folders.get(info.name);
    if (known) {
      known.info = info;
      return known;
    }
    const state: FolderState = { info, messages: [], lastNumber: 0, ready: Promise.resolve() };
    this.folders.set(info.name, state);
    return state;
  }

  /** Register a folder now (so concurrent appends agree on its path); its journal note follows. */
  private addFolder(folder: Pick<FolderInfo, 'name' | 'delimiter' | 'specialUse' | 'subscribed'>): {
    state: FolderState;
  } {
    const path = this.paths.claim(folder.name, folder.delimiter).join('/');
    const info: ManifestFolder = {
      type: 'folder',
      name: folder.name,
      delimiter: folder.delimiter,
      path,
      specialUse: folder.specialUse,
      subscribed: folder.subscribed ?? true,
    };
    const state: FolderState = {
      info,
      messages: [],
      lastNumber: 0,
      ready: this.writer.note({ kind: 'folder', ...info }),
    };
    state.ready.catch(() => {}); // awaited by ensureFolder/append
    this.folders.set(folder.name, state);
    return { state };
  }
}

function numberOf(entryName: string): number {
  const m = MESSAGE_FILE.exec(entryName.slice(entryName.lastIndexOf('/') + 1));
  return m ? Number(m[1]) : 0;
}

function toMessageMeta(id: string, size: number, meta: EntryMeta): MessageMeta {
  return {
    id,
    size,
    flags: [...meta.flags],
    internalDate: meta.internalDate ? new Date(meta.internalDate) : undefined,
    messageId: meta.messageId,
    sha256: meta.sha256,
  };
}

function toFolderInfo(f: ManifestFolder): FolderInfo {
  const info: FolderInfo = { name: f.name, delimiter: f.delimiter, selectable: true };
  if (f.specialUse) info.specialUse = f.specialUse as SpecialUse;
  if (f.subscribed !== undefined) info.subscribed = f.subscribed;
  return info;
}

/** Open (create, resume or extend) the archive at `path`. */
export async function createZipSink(
  path: string,
  options: ZipSinkOptions = {},
  log: Logger = silentLogger,
): Promise<Sink> {
  if (existsSync(path) && statSync(path).size > 0 && !existsSync(journalPathOf(path))) {
    log.warn(`${path} has no journal; rebuilding it from the archive's manifest`);
    await rebuildJournal(path, options.fsync ?? true);
  }
  const { writer, records } = await ZipWriter.open(path, options);
  const sink = new ZipSink(writer);
  sink.load(records);
  return sink;
}

export const openZipSink: SinkFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'zip') throw new UsageError(`zip sink given a ${ctx.endpoint.kind} endpoint`);
  try {
    return await createZipSink(ctx.endpoint.path, {}, ctx.log);
  } catch (err) {
    throw pathError(err, `open the zip sink ${ctx.endpoint.path}`);
  }
};
