import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { EndpointContext, SourceFactory } from '../../context.js';
import { FolderError, MessageError } from '../../errors.js';
import { type BatchJob, FolderBatcher } from '../../imap/batch.js';
import { connectImap, type ImapSession } from '../../imap/connect.js';
import { allowedBytes, isOversize, LARGE_CHUNK } from '../../mail/limits.js';
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
} from '../../types.js';

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
  private seen = 0;

  constructor(
    private readonly onBytes: ((n: number) => void) | undefined,
    private readonly limit: number,
    private readonly tooMuch: () => unknown,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      done(this.tooMuch() as Error);
      return;
    }
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }
}

/**
 * Messages whose batch died of a reply past the parser's limits, per run (sessions come and
 * go, the context stays): each is fetched alone in windows next time, so only the message the
 * server lies about fails, not its 255 neighbours.
 */
const suspects = new WeakMap<EndpointContext, Set<string>>();

function suspectsOf(ctx: EndpointContext): Set<string> {
  const known = suspects.get(ctx);
  if (known) return known;
  const set = new Set<string>();
  suspects.set(ctx, set);
  return set;
}

class ImapSource implements Source {
  readonly capabilities: SourceCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    lazyIdentity: false,
    maxConnections: 8,
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
    const suspect = suspectsOf(this.ctx).has(`${folder.name}\n${message.id}`);
    if (suspect || message.size > this.ctx.largeMessageBytes) return this.openLarge(folder, message);
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
    const fetched = this.session.withFolder(folder, true, () =>
      this.session.guard('message', folder, async () => {
        const set = uidSet([...byUid.keys()]);
        const seen = new Set<number>();
        // Settled once the whole reply checked out: a bad UID later in it voids the batch.
        const answers: Array<[BatchJob<number, Buffer | undefined>, Buffer | undefined]> = [];
        for await (const m of client.fetch(set, { uid: true, source: true }, { uid: true })) {
          this.checkAnswer(folder, m.uid, byUid, seen);
          for (const j of byUid.get(m.uid) ?? []) answers.push([j, m.source]);
        }
        for (const [j, data] of answers) this.settle(folder, j, data);
      }),
    );
    // Mapped by guard(), which waited for the parser's refusal: now it can be told apart.
    return fetched.catch((err: unknown) => {
      if (isOversize(err)) for (const uid of byUid.keys()) suspectsOf(this.ctx).add(`${folder}\n${uid}`);
      throw err;
    });
  }

  /** A UID twice or one not asked for would hand one message's bytes to another's job. */
  private checkAnswer(folder: string, uid: number, asked: Map<number, unknown>, seen: Set<number>): void {
    const host = this.session.endpoint.host;
    const why = !asked.has(uid)
      ? `UID ${uid}, which was not asked for`
      : seen.has(uid)
        ? `UID ${uid} twice`
        : '';
    seen.add(uid);
    if (!why) return;
    throw new FolderError('EFOLDER', `${host} answered a FETCH in '${folder}' with ${why}`, {
      hint: 'the server answered FETCH wrongly; run again later or report it to its operator',
    });
  }

  /** Bytes far past the declared size are not the message the plan saw: that message fails. */
  private settle(folder: string, j: BatchJob<number, Buffer | undefined>, data: Buffer | undefined): void {
    if (!data || data.length <= allowedBytes(j.size)) {
      j.resolve(data);
      return;
    }
    j.reject(
      new MessageError(
        'EMISMATCH',
        `${this.session.endpoint.host} sent ${data.length} bytes for UID ${j.item} in '${folder}', declared as ${j.size}`,
        { hint: 'the server misreports sizes; report it to its operator' },
      ),
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
      const dl = await this.session
        .guard('message', folder.name, () =>
          client.download(message.id, undefined, { uid: true, chunkSize: LARGE_CHUNK }),
        )
        .catch((err: unknown) => {
          throw this.oversize(folder, message, err);
        });
      if (!dl.content) throw this.gone(folder, message);
      const content = dl.content;
      // A server that keeps sending full windows stops at the declared size plus slack
      // (an error, not a silent cut: a truncated copy must not pass as the message).
      const out = new ByteCounter(this.ctx.onBytes, allowedBytes(message.size), () =>
        this.oversize(folder, message, { code: 'ResponseTooLarge' }),
      );
      content.on('error', (err) => {
        // As in guard(): the parser's refusal event may come a turn after this error.
        setImmediate(() => {
          const mapped = this.session.mapError(err, 'message', folder.name);
          out.destroy(this.oversize(folder, message, mapped) as Error);
        });
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

  /** Fetched alone in windows and still too big: the lie is this message's; others go on. */
  private oversize(folder: FolderInfo, message: MessageMeta, err: unknown): unknown {
    if (!isOversize(err)) return err;
    return new MessageError(
      'EMISMATCH',
      `${this.session.endpoint.host} sent more for UID ${message.id} in '${folder.name}' than its declared ${message.size} bytes`,
      { hint: 'the server misreports sizes; report it to its operator', cause: err },
    );
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
