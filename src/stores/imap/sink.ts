import type { SinkFactory } from '../../context.js';
import { ConnectionError, LimitError, MailferryError, MessageError } from '../../errors.js';
import { type BatchJob, FolderBatcher } from '../../imap/batch.js';
import { connectImap, type ImapSession } from '../../imap/connect.js';
import { findByIdentity } from '../../imap/find.js';
import { filterFlags } from '../../imap/flags.js';
import { collectBody } from '../../imap/literal.js';
import { type AppendMessage, createSpecialUse, multiAppend, serverPath } from '../../imap/multiappend.js';
import { folderKey } from '../../mail/folder-key.js';
import type {
  AppendInput,
  AppendResult,
  FolderInfo,
  FolderInventory,
  FolderNamespace,
  FolderStatus,
  InventoryOptions,
  MessageMeta,
  Sink,
  SinkCapabilities,
  SpecialUse,
} from '../../types.js';

/** One MULTIAPPEND (RFC 3502): Dovecot stores the batch in one transaction. */
const APPEND_BATCH = { maxMessages: 64, maxBytes: 1024 * 1024 };
/** Bigger messages go in an APPEND of their own. */
const BATCH_MESSAGE_MAX = 1024 * 1024;

/** A message read and normalised, waiting for its batch. */
interface Ready {
  input: AppendInput;
  data: Buffer;
  sha256: string;
}

class ImapSink implements Sink {
  readonly capabilities: SinkCapabilities = {
    hasFolders: true,
    keepsFlags: true,
    maxConnections: 8,
  };

  private known?: Map<string, FolderInfo>;
  private readonly permanent = new Map<string, Promise<Set<string> | undefined>>();
  /** Appends run one after another: imapflow sends one command at a time anyway. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly batcher = new FolderBatcher<Ready, AppendResult>(
    (folder, jobs) => this.appendMany(folder, jobs),
    APPEND_BATCH,
  );

  constructor(private readonly session: ImapSession) {
    if (session.client.capabilities.has('MULTIAPPEND')) this.capabilities.pipelineDepth = 256;
  }

  async listFolders(): Promise<FolderInfo[]> {
    const list = await this.session.listFolders();
    this.known = new Map(list.map((f) => [folderKey(f.name), f]));
    return list;
  }

  private async knownFolders(): Promise<Map<string, FolderInfo>> {
    if (!this.known) await this.listFolders();
    return this.known!;
  }

  get namespace(): FolderNamespace {
    return this.session.namespace;
  }

  /**
   * CREATE, with the special-use attribute where the server offers CREATE-SPECIAL-USE (RFC
   * 6154), then SUBSCRIBE unless the source folder was unsubscribed. `name` is the sink's
   * full name (personal prefix included). A CREATE refused because the folder exists after
   * all (a server without the ALREADYEXISTS code, another client) is checked with LIST.
   */
  private async create(name: string, subscribed = true, use?: SpecialUse): Promise<void> {
    const { client } = this.session;
    const path = serverPath(client, name);
    const created = await this.session
      .guard(
        'folder',
        name,
        async () => (use && (await this.createSpecial(path, use))) || this.createPlain(path),
      )
      .catch(async (err): Promise<false> => {
        if (!(await this.listed(path))) throw err;
        return false;
      });
    if (created === 'special' && subscribed)
      await this.session.guard('folder', name, () => client.mailboxSubscribe(path));
    if (created === 'plain' && !subscribed)
      await this.session.guard('folder', name, () => client.mailboxUnsubscribe(path));
    const info: FolderInfo = {
      name: path,
      delimiter: this.namespace.delimiter,
      subscribed,
      selectable: true,
    };
    if (use && created === 'special') info.specialUse = use;
    (await this.knownFolders()).set(folderKey(path), info);
  }

  /** imapflow's CREATE subscribes by itself: undone for a folder that was unsubscribed at the source. */
  private async createPlain(path: string): Promise<'plain' | false> {
    const res = await this.session.client.mailboxCreate(path);
    return res.created ? 'plain' : false;
  }

  /** `CREATE name (USE (\Sent))`; false when not offered or refused (e.g. the use is taken), so a plain CREATE follows. */
  private async createSpecial(path: string, use: SpecialUse): Promise<'special' | false> {
    const { client } = this.session;
    if (!client.capabilities.has('CREATE-SPECIAL-USE')) return false;
    return (await createSpecialUse(client, path, use)) ? 'special' : false;
  }

  private async listed(path: string): Promise<boolean> {
    const list = await this.listFolders().catch(() => []);
    return list.some((f) => folderKey(f.name) === folderKey(path));
  }

  async ensureFolder(folder: FolderInfo): Promise<void> {
    const existing = (await this.knownFolders()).get(folderKey(folder.name));
    if (!existing) return this.create(folder.name, folder.subscribed !== false, folder.specialUse);
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
      delimiter: this.namespace.delimiter,
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
    if (this.capabilities.pipelineDepth && input.meta.size <= this.batchMessageMax()) {
      return collectBody(input.body, input.meta.size).then(({ data, sha256 }) =>
        this.batcher.add(input.folder, { input, data, sha256 }, data.length),
      );
    }
    // Queued behind other appends: a caller that taps 'data' must not let the body flow away meanwhile.
    input.body.pause();
    const run = this.tail.then(async () => {
      const { data, sha256 } = await collectBody(input.body, input.meta.size);
      return this.appendOne({ input, data, sha256 });
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Over APPENDLIMIT a message goes alone: imapflow refuses it before sending, as too big. */
  private batchMessageMax(): number {
    const limit = this.session.client.capabilities.get('APPENDLIMIT');
    return typeof limit === 'number' ? Math.min(limit, BATCH_MESSAGE_MAX) : BATCH_MESSAGE_MAX;
  }

  /** TRYCREATE: the folder vanished since we looked; create it and try once more. */
  private async creatingOnce<T>(folder: string, send: () => Promise<T>): Promise<T> {
    return send().catch(async (err) => {
      if (!isMissing(err)) throw err;
      await this.create(folder);
      return send();
    });
  }

  /**
   * Courier refuses APPEND into the folder the session has EXAMINEd ("Current box is selected
   * READ-ONLY."), as after an inventory or a find(): select it read-write again first.
   */
  private async writable(folder: string): Promise<void> {
    const box = this.session.client.mailbox || undefined;
    if (box?.readOnly && box.path === serverPath(this.session.client, folder))
      await this.session.withFolder(folder, false, async () => undefined);
  }

  private async appendOne(ready: Ready): Promise<AppendResult> {
    const { input, data, sha256 } = ready;
    const { keep, dropped } = filterFlags(input.flags, await this.permanentFlags(input.folder));
    await this.writable(input.folder);
    const { client, endpoint } = this.session;
    const res = await this.creatingOnce(input.folder, () =>
      this.session.guard('append', input.folder, () =>
        client.append(input.folder, data, keep, input.internalDate),
      ),
    );
    if (!res) throw new ConnectionError('ECLOSED', `connection to ${endpoint.host}:${endpoint.port} closed`);
    const result: AppendResult = { sha256 };
    // Only a UIDPLUS APPENDUID is a server-confirmed id (imapflow may guess one by sequence number).
    if (res.uid && res.uidValidity !== undefined) result.id = String(res.uid);
    if (dropped.length) result.droppedFlags = dropped;
    return result;
  }

  /**
   * One MULTIAPPEND for the batch (imapflow has no such call, so the command goes through its
   * runner). The server stores all or none: a refusal that names one message (too big, bad
   * bytes) is sorted out by sending the batch again one message at a time.
   */
  private async appendMany(folder: string, jobs: Array<BatchJob<Ready, AppendResult>>): Promise<void> {
    const permanent = await this.permanentFlags(folder);
    await this.writable(folder);
    const results: AppendResult[] = [];
    const messages: AppendMessage[] = [];
    for (const { item } of jobs) {
      const { keep, dropped } = filterFlags(item.input.flags, permanent);
      const { internalDate } = item.input;
      messages.push(
        internalDate ? { flags: keep, internalDate, data: item.data } : { flags: keep, data: item.data },
      );
      results.push(dropped.length ? { sha256: item.sha256, droppedFlags: dropped } : { sha256: item.sha256 });
    }
    let uids: number[];
    try {
      uids = await this.creatingOnce(folder, () =>
        this.session.guard('append', folder, () => multiAppend(this.session.client, folder, messages)),
      );
    } catch (err) {
      const whole = err instanceof LimitError || (err instanceof MailferryError && err.retryable);
      if (whole || jobs.length === 1) throw err;
      for (const j of jobs) await this.appendOne(j.item).then(j.resolve, j.reject);
      return;
    }
    jobs.forEach((j, i) => {
      const r = results[i]!;
      if (uids.length === jobs.length) r.id = String(uids[i]);
      j.resolve(r);
    });
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

  /** UIDs of messages with this identity, for settling an APPEND whose answer was lost. */
  find(folder: string, meta: MessageMeta): Promise<string[]> {
    return findByIdentity(this.session, folder, meta);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof MailferryError && err.code === 'ENOFOLDER';
}

export const openImapSink: SinkFactory = async (ctx) => new ImapSink(await connectImap(ctx));
