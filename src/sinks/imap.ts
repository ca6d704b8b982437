import type { Readable } from 'node:stream';
import type { SinkFactory } from '../context.js';
import { ConnectionError, MailferryError, MessageError } from '../errors.js';
import { CrlfHasher, normalizeChunk } from '../hash.js';
import { connectImap, type ImapSession } from '../imap-connect.js';
import type {
  AppendInput,
  AppendResult,
  FolderInfo,
  FolderInventory,
  FolderStatus,
  InventoryOptions,
  MessageMeta,
  Sink,
  SinkCapabilities,
} from '../types.js';

const SYSTEM_FLAGS = new Map(
  ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'].map((f) => [f.toLowerCase(), f]),
);
/** RFC 9051 atom: no specials, no controls, no spaces. */
const ATOM = /^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/;

/**
 * Which flags a folder keeps. `permanent` is PERMANENTFLAGS from a read-write SELECT
 * (undefined when the server sent none: then every flag is kept). \Recent is session
 * state, never sent and not reported as dropped.
 */
export function filterFlags(
  flags: string[],
  permanent: Set<string> | undefined,
): { keep: string[]; dropped: string[] } {
  const allowed = new Set([...(permanent ?? [])].map((f) => f.toLowerCase()));
  const keep: string[] = [];
  const dropped: string[] = [];
  for (const raw of flags) {
    const lower = raw.toLowerCase();
    if (lower === '\\recent') continue;
    const flag = SYSTEM_FLAGS.get(lower) ?? raw;
    const atom = flag.startsWith('\\') ? flag.slice(1) : flag;
    const ok =
      ATOM.test(atom) && (!permanent || allowed.has(lower) || (allowed.has('\\*') && !flag.startsWith('\\')));
    if (!ok) dropped.push(raw);
    else if (!keep.includes(flag)) keep.push(flag);
  }
  return { keep, dropped };
}

/**
 * Collect a message into one Buffer, as imapflow's append() takes no stream. Sinks run
 * appends one at a time, so this bounds memory to one message per connection. Bare LF
 * becomes CRLF (IMAP requires it; it is the one change mailferry allows), and the SHA-256
 * is taken over exactly the bytes sent.
 */
export async function collectBody(body: Readable, sizeHint = 0): Promise<{ data: Buffer; sha256: string }> {
  const hasher = new CrlfHasher();
  // One buffer of the announced size, filled in place: a list of chunks joined at the end
  // would hold the message twice (imapflow copies it once more when it builds the command).
  let data = Buffer.allocUnsafe(Math.max(sizeHint + 256, 1024));
  let used = 0;
  let prevCR = false;
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hasher.update(buf);
    const norm = normalizeChunk(buf, prevCR);
    if (buf.length) prevCR = buf[buf.length - 1] === 0x0d;
    if (used + norm.length > data.length) {
      const grown = Buffer.allocUnsafe(Math.max(data.length * 2, used + norm.length));
      data.copy(grown, 0, 0, used);
      data = grown;
    }
    norm.copy(data, used);
    used += norm.length;
  }
  return { data: data.subarray(0, used), sha256: hasher.digest() };
}

function folderKey(name: string): string {
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
}

class ImapSink implements Sink {
  readonly capabilities: SinkCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    keepsInternalDates: true,
    maxConnections: 8,
    canSearch: true,
  };

  private known?: Map<string, FolderInfo>;
  private readonly permanent = new Map<string, Promise<Set<string> | undefined>>();
  /** Appends run one after another: imapflow sends one command at a time anyway. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly session: ImapSession) {}

  async listFolders(): Promise<FolderInfo[]> {
    const list = await this.session.listFolders();
    this.known = new Map(list.map((f) => [folderKey(f.name), f]));
    return list;
  }

  private async knownFolders(): Promise<Map<string, FolderInfo>> {
    if (!this.known) await this.listFolders();
    return this.known!;
  }

  private async delimiter(): Promise<string> {
    const first = (await this.knownFolders()).values().next().value as FolderInfo | undefined;
    return first?.delimiter ?? this.session.client.namespace?.delimiter ?? '/';
  }

  /** CREATE (imapflow encodes non-ASCII names, and subscribes); folder.name already uses our delimiter. */
  private async create(name: string, subscribed = true): Promise<void> {
    const { client } = this.session;
    const res = await this.session.guard('folder', name, () => client.mailboxCreate(name));
    if (res.created && !subscribed)
      await this.session.guard('folder', name, () => client.mailboxUnsubscribe(res.path));
    const info: FolderInfo = {
      name: res.path,
      delimiter: await this.delimiter(),
      subscribed,
      selectable: true,
    };
    (await this.knownFolders()).set(folderKey(res.path), info);
  }

  async ensureFolder(folder: FolderInfo): Promise<void> {
    const existing = (await this.knownFolders()).get(folderKey(folder.name));
    if (!existing) return this.create(folder.name, folder.subscribed !== false);
    if (folder.subscribed && existing.subscribed === false) {
      await this.session.guard('folder', folder.name, () =>
        this.session.client.mailboxSubscribe(existing.name),
      );
      existing.subscribed = true;
    }
  }

  async inventory(folder: string, options?: InventoryOptions): Promise<FolderInventory | undefined> {
    const info = (await this.knownFolders()).get(folderKey(folder)) ?? {
      name: folder,
      delimiter: await this.delimiter(),
    };
    return this.unlessMissing(() => this.session.inventory(info, options));
  }

  folderStatus(folder: string): Promise<FolderStatus | undefined> {
    return this.unlessMissing(() => this.session.status(folder));
  }

  private async unlessMissing<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** PERMANENTFLAGS of a folder from one read-write SELECT; creates the folder when it is missing. */
  private permanentFlags(folder: string): Promise<Set<string> | undefined> {
    const key = folderKey(folder);
    let flags = this.permanent.get(key);
    if (!flags) {
      const select = () =>
        this.session.withFolder(folder, false, async () => this.session.client.mailbox || undefined);
      flags = select()
        .catch(async (err) => {
          if (!isMissing(err)) throw err;
          await this.create(folder);
          return select();
        })
        .then((box) => box?.permanentFlags);
      flags.catch(() => this.permanent.delete(key));
      this.permanent.set(key, flags);
    }
    return flags;
  }

  append(input: AppendInput): Promise<AppendResult> {
    // Queued behind other appends: a caller that taps 'data' must not let the body flow away meanwhile.
    input.body.pause();
    const run = this.tail.then(() => this.appendNow(input));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async appendNow(input: AppendInput): Promise<AppendResult> {
    const { data, sha256 } = await collectBody(input.body, input.meta.size);
    const { keep, dropped } = filterFlags(input.flags, await this.permanentFlags(input.folder));
    const { client, endpoint } = this.session;
    const send = () =>
      this.session.guard('append', input.folder, () =>
        client.append(input.folder, data, keep, input.internalDate),
      );
    const res = await send().catch(async (err) => {
      // TRYCREATE: the folder vanished since we looked; create it and try once more.
      if (!isMissing(err)) throw err;
      await this.create(input.folder);
      return send();
    });
    if (!res) throw new ConnectionError('ECLOSED', `connection to ${endpoint.host}:${endpoint.port} closed`);
    const result: AppendResult = { sha256 };
    // Only a UIDPLUS APPENDUID is a server-confirmed id (imapflow may guess one by sequence number).
    if (res.uid && res.uidValidity !== undefined) result.id = String(res.uid);
    if (dropped.length) result.droppedFlags = dropped;
    return result;
  }

  /** STORE FLAGS: replace the flags of one message (incremental runs). */
  async setFlags(folder: string, id: string, flags: string[]): Promise<void> {
    const { client, endpoint } = this.session;
    await this.session.withFolder(folder, false, async () => {
      const { keep } = filterFlags(flags, client.mailbox ? client.mailbox.permanentFlags : undefined);
      const ok = await this.session.guard('message', folder, () =>
        client.messageFlagsSet(id, keep, { uid: true, silent: true }),
      );
      if (!ok)
        throw new MessageError(
          'EREJECTED',
          `${endpoint.host} would not change the flags of UID ${id} in '${folder}'`,
        );
    });
  }

  /**
   * UIDs of messages with this identity (Message-ID and size; without a Message-ID, size and
   * internal date), for settling an APPEND whose answer was lost with the connection.
   */
  async find(folder: string, meta: MessageMeta): Promise<string[]> {
    const { client } = this.session;
    return this.session.withFolder(folder, true, async () => {
      const query = meta.messageId
        ? { header: { 'message-id': meta.messageId } }
        : { larger: meta.size - 1, smaller: meta.size + 1 };
      const uids =
        (await this.session.guard('folder', folder, () => client.search(query, { uid: true }))) || [];
      if (!uids.length) return [];
      const found: string[] = [];
      const wanted = meta.internalDate ? Math.floor(meta.internalDate.getTime() / 1000) : undefined;
      for await (const m of client.fetch(
        uids,
        { uid: true, size: true, internalDate: true },
        { uid: true },
      )) {
        const when = m.internalDate ? Math.floor(new Date(m.internalDate).getTime() / 1000) : undefined;
        if (m.size === meta.size && (meta.messageId || wanted === undefined || when === wanted))
          found.push(String(m.uid));
      }
      return found;
    });
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof MailferryError && err.code === 'ENOFOLDER';
}

export const openImapSink: SinkFactory = async (ctx) => new ImapSink(await connectImap(ctx));
