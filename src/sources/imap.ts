import { Readable, Transform, type TransformCallback } from 'node:stream';
import { type BatchJob, FolderBatcher } from '../batch.js';
import type { EndpointContext, SourceFactory } from '../context.js';
import { FolderError, MessageError } from '../errors.js';
import { connectImap, type ImapSession } from '../imap-connect.js';
import { mapImapError } from '../imap-errors.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderNamespace,
  FolderStat,
  FolderStatus,
  InventoryOptions,
  MessageMeta,
  Source,
  SourceCapabilities,
} from '../types.js';

/** Partial-fetch window for large messages: one chunk in memory at a time. */
const LARGE_CHUNK = 1024 * 1024;
/** UIDs per UID STORE/EXPUNGE, to stay well under servers' command-line limits. */
const DELETE_BATCH = 1000;
/** Per UID FETCH: enough to keep the server busy, little enough to hold in memory. */
const FETCH_BATCH = { maxMessages: 256, maxBytes: 1024 * 1024 };

/** `imaps://u@h/Folder` limits a source to that folder and the folders below it. */
export function inFolderScope(folder: FolderInfo, scope: string): boolean {
  const same = (a: string, b: string) =>
    a.toUpperCase() === 'INBOX' ? a.toUpperCase() === b.toUpperCase() : a === b;
  if (same(folder.name, scope)) return true;
  const prefix = `${scope}${folder.delimiter}`;
  return (
    folder.name.startsWith(prefix) ||
    (scope.toUpperCase() === 'INBOX' && folder.name.toUpperCase().startsWith(prefix.toUpperCase()))
  );
}

/** Compact UID set (`1:3,7`) for commands; the input need not be sorted. */
export function uidSet(uids: number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Counts bytes for accounting while passing them through untouched. */
class ByteCounter extends Transform {
  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }
}

class ImapSource implements Source {
  readonly capabilities: SourceCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    keepsInternalDates: true,
    lazyIdentity: false,
    maxConnections: 8,
    canDelete: true,
    pipelineDepth: 256,
  };

  private readonly batcher: FolderBatcher<number, Buffer | undefined>;

  constructor(
    private readonly session: ImapSession,
    private readonly ctx: EndpointContext,
  ) {
    // A message the batch did not return was expunged meanwhile.
    this.batcher = new FolderBatcher(
      (f, jobs) => this.fetchMany(f, jobs),
      FETCH_BATCH,
      () => undefined,
    );
  }

  get namespace(): FolderNamespace {
    return this.session.namespace;
  }

  async listFolders(): Promise<FolderInfo[]> {
    const all = await this.session.listFolders();
    const scope = this.session.endpoint.folder;
    return scope ? all.filter((f) => inFolderScope(f, scope)) : all;
  }

  inventory(folder: FolderInfo, options?: InventoryOptions): Promise<FolderInventory> {
    return this.session.inventory(folder, options);
  }

  folderStatus(folder: FolderInfo): Promise<FolderStatus> {
    return this.session.status(folder.name);
  }

  async open(folder: FolderInfo, message: MessageMeta): Promise<Readable> {
    if (message.size > this.ctx.largeMessageBytes) return this.openLarge(folder, message);
    const data = await this.batcher.add(folder.name, Number(message.id), message.size);
    if (!data) throw this.gone(folder, message);
    this.ctx.onBytes?.(data.length);
    return Readable.from([data], { objectMode: false });
  }

  /** EXAMINE plus UID FETCH BODY.PEEK[] of a batch: reading never sets \Seen. */
  private fetchMany(folder: string, jobs: Array<BatchJob<number, Buffer | undefined>>): Promise<void> {
    const { client } = this.session;
    const byUid = new Map<number, Array<BatchJob<number, Buffer | undefined>>>();
    for (const j of jobs) byUid.set(j.item, [...(byUid.get(j.item) ?? []), j]);
    return this.session.withFolder(folder, true, () =>
      this.session.guard('message', folder, async () => {
        const set = uidSet([...byUid.keys()]);
        for await (const m of client.fetch(set, { uid: true, source: true }, { uid: true })) {
          for (const j of byUid.get(m.uid) ?? []) j.resolve(m.source);
        }
      }),
    );
  }

  /**
   * download() with no part streams BODY.PEEK[]<offset.len> windows through a plain
   * PassThrough: raw bytes, no transfer or charset decoding (imapflow only decodes parts).
   * The folder lock is held until the stream closes, so one large message at a time per connection.
   */
  private async openLarge(folder: FolderInfo, message: MessageMeta): Promise<Readable> {
    const release = await this.session.lockFolder(folder.name, true);
    try {
      const { client } = this.session;
      const dl = await this.session.guard('message', folder.name, () =>
        client.download(message.id, undefined, { uid: true, chunkSize: LARGE_CHUNK }),
      );
      if (!dl.content) throw this.gone(folder, message);
      const content = dl.content;
      const out = new ByteCounter(this.ctx.onBytes);
      content.on('error', (err) => {
        out.destroy(
          mapImapError(err, { endpoint: this.session.endpoint, op: 'message', folder: folder.name }),
        );
      });
      out.on('close', () => {
        // A consumer that gave up stops the download too.
        if (!content.destroyed) content.destroy();
        release();
      });
      return content.pipe(out);
    } catch (err) {
      release();
      throw err;
    }
  }

  private gone(folder: FolderInfo, message: MessageMeta): MessageError {
    return new MessageError(
      'EGONE',
      `message UID ${message.id} in '${folder.name}' is no longer on the server`,
    );
  }

  /** UID STORE +FLAGS \Deleted, then UID EXPUNGE of exactly those UIDs. */
  async delete(folder: FolderInfo, messages: MessageMeta[]): Promise<void> {
    if (messages.length === 0) return;
    const host = this.session.endpoint.host;
    if (!this.session.hasUidplus) {
      // A plain EXPUNGE would also remove messages someone else marked \Deleted.
      throw new FolderError(
        'EFOLDER',
        `${host} lacks UIDPLUS, so '${folder.name}' cannot be cleaned up safely`,
        {
          hint: 'run without --delete-source and delete the copied messages with a mail client',
        },
      );
    }
    const uids = messages.map((m) => Number(m.id));
    await this.session.withFolder(folder.name, false, async () => {
      for (let i = 0; i < uids.length; i += DELETE_BATCH) {
        const set = uidSet(uids.slice(i, i + DELETE_BATCH));
        const ok = await this.session.guard('folder', folder.name, () =>
          this.session.client.messageDelete(set, { uid: true }),
        );
        if (!ok)
          throw new FolderError('EFOLDER', `${host} would not delete copied messages from '${folder.name}'`);
      }
    });
  }

  async stat(): Promise<FolderStat[]> {
    const folders = (await this.listFolders()).filter((f) => f.selectable !== false);
    const out: FolderStat[] = [];
    for (const folder of folders) {
      const { messages, bytes } = await this.session.folderBytes(folder.name);
      out.push({ folder, messages, bytes });
    }
    return out;
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

export const openImapSource: SourceFactory = async (ctx) => {
  const session = await connectImap(ctx);
  return new ImapSource(session, ctx);
};
