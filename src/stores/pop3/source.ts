import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { EndpointContext, SourceFactory } from '../../context.js';
import { FolderError, MessageError, UsageError } from '../../errors.js';
import { peekHeader } from '../../mail/headers.js';
import { allowedBytes, inventoryCap } from '../../mail/limits.js';
import { Pop3Client, Pop3ReplyError } from '../../pop3/client.js';
import { AddedCrlfTrimmer } from '../../pop3/tail.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderStat,
  MessageBody,
  MessageMeta,
  Source,
  SourceCapabilities,
} from '../../types.js';
import type { ServerOptions } from '../../util/net.js';
import { parseIdentity } from './headers.js';

const INBOX: FolderInfo = { name: 'INBOX', delimiter: '/' };
/** TOP requests per batch: enough to keep a pipeline full, few enough to bound memory. */
const TOP_BATCH = 200;

interface Numbered {
  n: number;
  size: number;
}

/**
 * One POP3 session as a Source. Message numbers are per session, so the UIDL → number map is
 * rebuilt whenever a new session starts (after delete()'s QUIT, or a dropped connection).
 */
class Pop3Source implements Source {
  readonly capabilities: SourceCapabilities = {
    hasFolders: false,
    keepsFlags: false,
    lazyIdentity: true,
    maxConnections: 1,
    // Concurrent RETRs go out pipelined on the one session.
    pipelineDepth: 128,
  };
  private client?: Pop3Client;
  private connecting?: Promise<Pop3Client>;
  private byUid?: Map<string, Numbered>;
  private listing?: Promise<Map<string, Numbered>>;
  private duplicates: string[] = [];

  constructor(
    private readonly ctx: EndpointContext,
    private readonly server: ServerOptions,
  ) {}

  async session(): Promise<Pop3Client> {
    if (this.client && !this.client.closed) return this.client;
    // Concurrent callers share one reconnect: each opening its own would leave all but
    // the last connection open, and the process would never exit.
    this.connecting ??= (async () => {
      try {
        this.byUid = undefined;
        this.client = await Pop3Client.connect({
          server: this.server,
          log: this.ctx.log,
          onBytes: this.ctx.onBytes,
        });
        return this.client;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  async listFolders(): Promise<FolderInfo[]> {
    return [{ ...INBOX }];
  }

  async inventory(folder: FolderInfo): Promise<FolderInventory> {
    checkFolder(folder);
    const map = await this.uidMap(true);
    const messages = [...map].map(([id, m]) => ({ id, size: m.size, flags: [] }));
    const skipped = this.duplicates.map((id) => ({
      id,
      reason: 'the server gives this UIDL to several messages',
    }));
    return { folder: { ...INBOX }, messages, ...(skipped.length ? { skipped } : {}) };
  }

  async identify(folder: FolderInfo, messages: MessageMeta[]): Promise<void> {
    checkFolder(folder);
    const client = await this.session();
    const map = await this.uidMap();
    const known = messages.filter((m) => map.has(m.id));
    for (let i = 0; i < known.length; i += TOP_BATCH) {
      const batch = known.slice(i, i + TOP_BATCH);
      const heads = await Promise.all(
        batch.map((m) => {
          const { n, size } = map.get(m.id)!;
          return client.top(n, 0, allowedBytes(size)).catch(refusedAsUndefined);
        }),
      );
      batch.forEach((m, j) => {
        const head = heads[j];
        if (!head) return;
        const id = parseIdentity(head);
        if (id.messageId) m.messageId = id.messageId;
        if (id.internalDate) m.internalDate = id.internalDate;
      });
    }
  }

  async open(folder: FolderInfo, message: MessageMeta): Promise<MessageBody> {
    checkFolder(folder);
    const client = await this.session();
    const entry = (await this.uidMap()).get(message.id);
    if (!entry) throw gone(message.id, 'it is no longer on the server');
    let body: Readable;
    try {
      // Bytes far past the LIST size are not the message the plan saw: this message fails.
      body = await client.retr(entry.n, allowedBytes(entry.size), () => {
        const host = this.server.endpoint.host;
        return new MessageError(
          'EMISMATCH',
          `${host} sent more for POP3 message ${message.id} than its declared ${entry.size} bytes`,
          { hint: 'the server misreports sizes; report it to its operator' },
        );
      });
    } catch (err) {
      if (err instanceof Pop3ReplyError) throw gone(message.id, `the server refused RETR: ${err.serverText}`);
      throw err;
    }
    const out = new AddedCrlfTrimmer(entry.size);
    // pipeline() hands a connection error on to `out`, and a consumer's destroy back to `body`.
    pipeline(body, out, () => undefined);
    // Identity from the message's own headers as they arrive: no TOP round trip per message.
    const { head, stream } = await peekHeader(out);
    const { messageId, internalDate } = parseIdentity(head);
    return Object.assign(stream, { learned: { messageId, internalDate } });
  }

  /**
   * DELE each message, then QUIT: POP3 deletes only at QUIT, so a connection that drops before
   * it deletes nothing and a re-run simply tries again. If any DELE is refused, RSET undoes the
   * marks and nothing is deleted.
   */
  async delete(folder: FolderInfo, messages: MessageMeta[]): Promise<void> {
    checkFolder(folder);
    const client = await this.session();
    const map = await this.uidMap();
    const numbers = messages.flatMap((m) => map.get(m.id)?.n ?? []);
    if (numbers.length === 0) return;
    try {
      await client.deleMany(numbers);
    } catch (err) {
      await client.rset().catch(() => undefined);
      throw err;
    }
    await client.quit();
    this.byUid = undefined;
  }

  async stat(): Promise<FolderStat[]> {
    const { count, bytes } = await (await this.session()).stat();
    return [{ folder: { ...INBOX }, messages: count, bytes }];
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = undefined;
  }

  /** UIDL + LIST (pipelined when the server allows), once per session unless `fresh`. */
  private async uidMap(fresh = false): Promise<Map<string, Numbered>> {
    const client = await this.session();
    if (this.byUid && !fresh) return this.byUid;
    // One UIDL/LIST per session, however many callers ask at once.
    this.listing ??= this.listUids(client).finally(() => {
      this.listing = undefined;
    });
    return this.listing;
  }

  private async listUids(client: Pop3Client): Promise<Map<string, Numbered>> {
    // STAT first: what the server says it holds bounds what LIST and UIDL may send.
    const { count } = await client.stat();
    const maxLines = inventoryCap(count);
    const [uids, sizes] = await Promise.all([client.uidl(maxLines), client.list(maxLines)]).catch((err) => {
      if (!(err instanceof Pop3ReplyError)) throw err;
      throw new FolderError(
        'EFOLDER',
        `${this.server.endpoint.host} cannot list messages by UIDL: ${err.serverText}`,
        {
          hint: 'mailferry needs a POP3 server with UIDL to resume safely',
        },
      );
    });
    const sizeOf = new Map(sizes.map((l) => [l.n, l.size]));
    const map = new Map<string, Numbered>();
    const dup = new Set<string>();
    for (const { n, uid } of uids) {
      if (map.has(uid)) dup.add(uid);
      else map.set(uid, { n, size: sizeOf.get(n) ?? 0 });
    }
    for (const uid of dup) map.delete(uid);
    this.duplicates = [...dup];
    this.byUid = map;
    return map;
  }
}

function checkFolder(folder: FolderInfo): void {
  if (folder.name.toUpperCase() !== 'INBOX') {
    throw new FolderError('ENOFOLDER', `POP3 has only INBOX, not '${folder.name}'`);
  }
}

function gone(id: string, why: string): MessageError {
  return new MessageError('EGONE', `POP3 message ${id}: ${why}`, { retryable: true });
}

function refusedAsUndefined(err: unknown): undefined {
  // A refused TOP leaves the message's identity to its bytes; other failures end the batch.
  if (err instanceof Pop3ReplyError) return undefined;
  throw err;
}

export const openPop3Source: SourceFactory = async (ctx) => {
  if (ctx.endpoint.kind !== 'pop3' || !ctx.server) {
    throw new UsageError(`not a POP3 endpoint: ${ctx.endpoint.kind}`);
  }
  const source = new Pop3Source(ctx, ctx.server);
  await source.session();
  return source;
};
