import { stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { SinkFactory } from '../../context.js';
import { MessageError, UsageError } from '../../errors.js';
import {
  findSidecars,
  MBOX_EXT,
  metaOf,
  readSidecar,
  recordLine,
  SIDECAR_SUFFIX,
  type SidecarFolder,
  sidecarPathFor,
} from '../../formats/mbox/sidecar.js';
import { SafePathAllocator } from '../../mail/safe-names.js';
import type {
  AppendInput,
  AppendResult,
  FolderInfo,
  FolderInventory,
  Sink,
  SinkCapabilities,
} from '../../types.js';
import { mapFsError, pathError } from '../../util/fs-errors.js';
import type { Logger } from '../../util/log.js';
import { mkdirp } from '../../util/path-kinds.js';
import { createFolder, type MboxFolder, recoverFolder } from './folder.js';
import { writeMessage } from './write.js';

export { mapFsError };

/**
 * The mbox sink: one mboxrd file per folder (`Archive.mbox`, children in `Archive/2002.mbox`)
 * plus a JSON-lines sidecar with flags, dates and offsets. append() calls are serialised;
 * fsyncs are grouped, but each append() resolves only after its own bytes and sidecar line
 * are durable. Opening the directory again repairs what a kill left behind.
 */

const GROUP_MESSAGES = 64;
const GROUP_BYTES = 32 * 1024 * 1024;
/** Folder segments that would clash with our own file names (`X.mbox`, its sidecar). */
const RESERVED = /\.(mbox|jsonl)$/i;

/** One serialised unit of work: writes what it must, then says what to journal. */
interface Task {
  work: () => Promise<Pending>;
  reject: (e: unknown) => void;
}

/** What one task wrote: the sidecar line to journal, and the in-memory change once it is durable. */
interface Step<T> {
  folder: MboxFolder;
  line: string;
  bytes: number;
  apply: () => T;
}

interface Pending {
  folder: MboxFolder;
  line: string;
  bytes: number;
  done: () => void;
}

class MboxSink implements Sink {
  readonly capabilities: SinkCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    maxConnections: 1,
  };
  /** Files have no prefix; folder paths use '/' whatever the source's delimiter. */
  readonly namespace = { prefix: '', delimiter: '/' };
  private readonly folders = new Map<string, MboxFolder>();
  private readonly creating = new Map<string, Promise<MboxFolder>>();
  private readonly allocator = new SafePathAllocator({ isReserved: (seg) => RESERVED.test(seg) });
  private readonly waiting: Task[] = [];
  private pending: Array<Pending & { fail: (e: unknown) => void }> = [];
  private pumping: Promise<void> | undefined;
  private running = false;
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  /** Find every sidecar under the root, repair torn writes, and reserve the paths in use. */
  async load(): Promise<void> {
    for (const sidecar of await findSidecars(this.root)) {
      const mboxPath = sidecar.slice(0, -SIDECAR_SUFFIX.length);
      const state = await readSidecar(sidecar);
      if (!state.header) continue;
      const known = this.folders.get(state.header.name);
      if (known) {
        this.log.warn(
          `${sidecar} names folder '${state.header.name}' again; ignored (kept ${known.mboxPath})`,
        );
        continue;
      }
      const folder = await recoverFolder(mboxPath, sidecar, state, this.log);
      const rel = relative(this.root, mboxPath).split(sep);
      rel[rel.length - 1] = rel.at(-1)!.slice(0, -MBOX_EXT.length);
      this.allocator.reserve(SafePathAllocator.split(state.header.name, state.header.delimiter), rel);
      this.folders.set(state.header.name, folder);
    }
  }

  async listFolders(): Promise<FolderInfo[]> {
    return [...this.folders.values()].map((f) => folderInfo(f.header));
  }

  async ensureFolder(info: FolderInfo): Promise<void> {
    const folder = await this.folderFor(info.name, info.delimiter);
    const h = folder.header;
    const changed =
      (info.specialUse !== undefined && info.specialUse !== h.specialUse) ||
      (info.subscribed !== undefined && info.subscribed !== h.subscribed);
    if (!changed) return;
    const header = { ...h, ...folderAttributes(info) };
    await this.submit(async () => ({
      folder,
      line: recordLine(header),
      bytes: 0,
      apply: () => {
        folder.header = header;
      },
    }));
  }

  async inventory(folder: string): Promise<FolderInventory | undefined> {
    const f = this.folders.get(folder);
    if (!f) return undefined;
    return { folder: folderInfo(f.header), messages: f.messages.map(metaOf) };
  }

  append(input: AppendInput): Promise<AppendResult> {
    return this.submit(async () => {
      const folder = await this.folderFor(input.folder, '/');
      const rec = await writeMessage(folder, input);
      const apply = (): AppendResult => {
        folder.messages.push(rec);
        return { id: rec.id, sha256: rec.sha256 };
      };
      return { folder, line: recordLine(rec), bytes: rec.end - rec.offset, apply };
    });
  }

  setFlags(folder: string, id: string, flags: string[]): Promise<void> {
    return this.submit(async () => {
      const f = this.folders.get(folder);
      const msg = f?.messages.find((m) => m.id === id);
      if (!f || !msg) throw new MessageError('EGONE', `no message ${id} in mbox folder '${folder}'`);
      const apply = () => {
        msg.flags = [...flags];
      };
      return { folder: f, line: recordLine({ type: 'flags', id, flags }), bytes: 0, apply };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pumping;
    for (const f of this.folders.values()) await f.close();
  }

  /** Queue `work`; the promise settles once its sidecar line is durable (then `apply` runs). */
  private submit<T>(work: () => Promise<Step<T>>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new UsageError('the mbox sink is already closed'));
        return;
      }
      this.waiting.push({
        reject,
        work: async () => {
          const step = await work();
          return { ...step, done: () => resolve(step.apply()) };
        },
      });
      if (!this.running) {
        this.running = true;
        this.pumping = this.pump();
      }
    });
  }

  /**
   * One writer at a time; a group commit when the group is full or nobody else is waiting.
   * `running` is cleared in the same tick the queue is seen empty, so no task is stranded.
   */
  private async pump(): Promise<void> {
    for (;;) {
      const task = this.waiting.shift();
      if (!task) {
        this.running = false;
        return;
      }
      try {
        this.pending.push({ ...(await task.work()), fail: task.reject });
      } catch (err) {
        task.reject(err);
      }
      const bytes = this.pending.reduce((n, p) => n + p.bytes, 0);
      if (this.pending.length >= GROUP_MESSAGES || bytes >= GROUP_BYTES || !this.waiting.length) {
        await this.commit();
      }
    }
  }

  /** Data first, then the sidecar lines that point at it: a line never names bytes that may be lost. */
  private async commit(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    const folders = [...new Set(batch.map((p) => p.folder))];
    try {
      await Promise.all(
        folders.map(async (f) => {
          await f.flush();
          await f.mbox?.datasync();
        }),
      );
      for (const f of folders) {
        await f.appendSidecar(
          batch
            .filter((p) => p.folder === f)
            .map((p) => p.line)
            .join(''),
        );
      }
      await Promise.all(folders.map((f) => f.sidecar?.datasync()));
    } catch (err) {
      const mapped = mapFsError(err, 'syncing the mbox');
      for (const f of folders) await f.rollback().catch(() => undefined);
      for (const p of batch) p.fail(mapped);
      return;
    }
    for (const f of folders) f.committed();
    for (const p of batch) p.done();
  }

  /** The folder's files, created on first use; concurrent callers share one creation. */
  private async folderFor(name: string, delimiter: string): Promise<MboxFolder> {
    const known = this.folders.get(name);
    if (known) return known;
    let creating = this.creating.get(name);
    if (!creating) {
      const segments = this.allocator.claim(name, delimiter);
      const mboxPath = `${join(this.root, ...segments)}${MBOX_EXT}`;
      creating = createFolder(mboxPath, sidecarPathFor(mboxPath), { name, delimiter });
      this.creating.set(name, creating);
    }
    try {
      const folder = await creating;
      this.folders.set(name, folder);
      return folder;
    } catch (err) {
      throw mapFsError(err, `creating mbox folder '${name}'`);
    } finally {
      this.creating.delete(name);
    }
  }
}

function folderInfo(h: SidecarFolder): FolderInfo {
  return { name: h.name, delimiter: h.delimiter, selectable: true, ...folderAttributes(h) };
}

function folderAttributes(info: Pick<FolderInfo, 'specialUse' | 'subscribed'>): Partial<SidecarFolder> {
  const out: Partial<SidecarFolder> = {};
  if (info.specialUse) out.specialUse = info.specialUse;
  if (info.subscribed !== undefined) out.subscribed = info.subscribed;
  return out;
}

export const openMboxSink: SinkFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'mbox') throw new UsageError(`not an mbox endpoint: ${ctx.endpoint.kind}`);
  const root = ctx.endpoint.path;
  const info = await stat(root).catch(() => undefined);
  if (info && !info.isDirectory()) {
    throw new UsageError(`mbox sink ${root} is not a directory`, {
      hint: 'an mbox sink is a directory with one file per folder; name a new or existing directory',
    });
  }
  try {
    await mkdirp(root);
    const sink = new MboxSink(root, ctx.log);
    await sink.load();
    return sink;
  } catch (err) {
    throw mapFsError(pathError(err, `open the mbox sink ${root}`), `opening mbox sink ${root}`);
  }
};
