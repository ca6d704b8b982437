import type { Writable } from 'node:stream';
import { type FetchMessageObject, ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { EndpointContext } from '../context.js';
import { isLoopback, type ServerEndpoint } from '../endpoint.js';
import { ConnectionError, FolderError, MailferryError, UsageError } from '../errors.js';
import { imapParserLimits, inventoryCap, isOversize } from '../mail/limits.js';
import type {
  FolderInfo,
  FolderInventory,
  FolderNamespace,
  FolderStatus,
  InventoryOptions,
  MessageMeta,
} from '../types.js';
import {
  type AuthSecret,
  assertPlaintextAllowed,
  type ServerOptions,
  secretAdmin,
  tlsOptions,
} from '../util/net.js';
import { paceLargeWrites } from '../util/paced-writes.js';
import { hasLineBreak, printable, secretForms } from '../util/secrets.js';
import { timerMs } from '../util/timers.js';
import { type ImapErrorContext, type ImapOp, mapImapError } from './errors.js';
import { providerQuery } from './gmail.js';
import { folderInfo, messageMeta } from './rows.js';

/** Errors imapflow raises when a required STARTTLS cannot happen (no TLS at all, not a bad certificate). */
const NO_STARTTLS = /STARTTLS|can not start TLS/i;

function imapAuth(secret: AuthSecret): NonNullable<ImapFlowOptions['auth']> {
  if (secret.method === 'xoauth2') return { user: secret.user, accessToken: secret.secret };
  // Delegated: only SASL PLAIN carries an authorisation identity; LOGIN would log in as the admin.
  if (secret.admin)
    return { user: secret.admin, pass: secret.secret, authzid: secret.user, loginMethod: 'AUTH=PLAIN' };
  return { user: secret.user, pass: secret.secret };
}

function flowOptions(server: ServerOptions, secret: AuthSecret, largeMessageBytes: number): ImapFlowOptions {
  const { endpoint } = server;
  // A password only goes out in clear to loopback or when the user allowed it.
  const requireTls = !endpoint.secure && !server.allowPlaintext && !isLoopback(endpoint.host);
  return {
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.secure,
    ...(requireTls ? { doSTARTTLS: true } : {}),
    tls: tlsOptions(endpoint.host, server.tls),
    auth: imapAuth(secret),
    // imapflow's own logs would carry message data and server replies.
    logger: false,
    // Batch sessions: an IDLE between commands only costs round trips.
    disableAutoIdle: true,
    connectionTimeout: timerMs(server.timeoutMs),
    greetingTimeout: timerMs(server.timeoutMs),
    socketTimeout: timerMs(server.timeoutMs),
    clientInfo: { name: 'mailferry' },
    // imapflow collects each literal in memory; its own caps are the one place that sees a
    // literal's declared length before the bytes arrive, so a reply bigger than anything we
    // asked for fails there (the connection with it) instead of filling memory.
    ...imapParserLimits(largeMessageBytes),
  };
}

/**
 * Open one authenticated IMAP session. A session cannot reconnect: a retry opens a new one,
 * and asks the auth provider again (so OAuth2 tokens are fresh).
 */
export async function connectImap(ctx: EndpointContext): Promise<ImapSession> {
  const server = ctx.server;
  if (server?.endpoint.kind !== 'imap') {
    throw new UsageError('an IMAP adapter needs an imap:// or imaps:// endpoint with server options');
  }
  const { endpoint } = server;
  const secret = await server.auth();
  const secrets = secretForms(secret.secret, secret.user, secretAdmin(secret));
  const client = new ImapFlow(flowOptions(server, secret, ctx.largeMessageBytes));
  let lastError: unknown;
  // Without a listener an 'error' event would crash the process; the failing call reports it.
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw connectError(err ?? lastError, server, client.byeReason, {
      oauth2: secret.method === 'xoauth2',
      secrets,
    });
  }
  if (!client.secureConnection) assertPlaintextAllowed(server, false);
  const socket = (client as unknown as { writeSocket?: Writable }).writeSocket;
  if (socket) paceLargeWrites(socket);
  const session = new ImapSession(client, endpoint, secrets);
  // A reply past the parser's limits arrives only as this event; the pending command itself
  // fails with a bare "no connection", which would hide why.
  client.on('error', (err: unknown) => {
    if (isOversize(err)) session.refusal ??= err;
  });
  return session;
}

function connectError(
  err: unknown,
  server: ServerOptions,
  byeReason: string | undefined,
  login: { oauth2: boolean; secrets: readonly string[] },
): MailferryError {
  const e = err as { tlsFailed?: boolean; code?: string; message?: string; reason?: string };
  if (e?.tlsFailed && !e.code && NO_STARTTLS.test(e.message ?? '')) {
    try {
      assertPlaintextAllowed(server, false);
    } catch (refusal) {
      return refusal as MailferryError;
    }
  }
  if (e && typeof e === 'object' && byeReason && !e.reason) e.reason = byeReason;
  return mapImapError(err, { endpoint: server.endpoint, op: 'connect', ...login });
}

/** One IMAP connection plus the operations source and sink share. Folder names are imapflow's decoded paths. */
export class ImapSession {
  /** The parser refused an oversize reply: the connection died of that. */
  refusal?: unknown;

  constructor(
    readonly client: ImapFlow,
    readonly endpoint: ServerEndpoint,
    /** Forms of this session's secret, scrubbed from every error it maps. */
    private readonly secrets: readonly string[] = [],
  ) {}

  /** Run an imapflow call and map whatever it throws. */
  async guard<T>(op: ImapOp, folder: string | undefined, fn: () => Promise<T>): Promise<T> {
    // A hostile LIST can name a folder no command can carry: that folder fails, not the run.
    if (folder !== undefined && hasLineBreak(folder)) {
      throw new FolderError(
        'EFOLDER',
        `folder ${printable(folder)} at ${this.endpoint.host}: its name holds CR, LF or NUL, which no IMAP command can carry`,
        { hint: 'rename it at the server to copy it' },
      );
    }
    try {
      return await fn();
    } catch (err) {
      // imapflow emits the parser's refusal as an event that may come a turn after the
      // command's own rejection: let it arrive before deciding what happened.
      if (!this.refusal && !(err instanceof MailferryError)) await new Promise((r) => setImmediate(r));
      throw this.mapError(err, op, folder);
    }
  }

  /** Map an imapflow error; on a connection the parser killed, that refusal is the reason. */
  mapError(err: unknown, op: ImapOp, folder: string | undefined): MailferryError {
    const where: ImapErrorContext = { endpoint: this.endpoint, op, folder, secrets: this.secrets };
    return mapImapError(this.refusal && !(err instanceof MailferryError) ? this.refusal : err, where);
  }

  /** Select (or EXAMINE when readOnly) a folder under imapflow's mailbox lock for the whole of fn. */
  async withFolder<T>(name: string, readOnly: boolean, fn: () => Promise<T>): Promise<T> {
    const lock = await this.guard('folder', name, () => this.client.getMailboxLock(name, { readOnly }));
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /** Take a folder lock whose release the caller owns (streams that outlive the call). */
  async lockFolder(name: string, readOnly: boolean): Promise<() => void> {
    const lock = await this.guard('folder', name, () => this.client.getMailboxLock(name, { readOnly }));
    return () => lock.release();
  }

  /** UID EXPUNGE and APPENDUID: UIDPLUS, folded into IMAP4rev2. */
  get hasUidplus(): boolean {
    return this.client.capabilities.has('UIDPLUS') || this.client.enabled.has('IMAP4REV2');
  }

  async listFolders(): Promise<FolderInfo[]> {
    const list = await this.guard('session', undefined, () => this.client.list());
    return list.map(folderInfo);
  }

  /** STATUS only: a re-run with nothing new costs one command per folder. Throws ENOFOLDER. */
  async status(name: string): Promise<FolderStatus> {
    // Dovecot answers STATUS on the selected folder from this session's view, which misses
    // what other sessions appended since; a NOOP brings the view up to date first.
    if (this.client.mailbox && this.client.mailbox.path === name) {
      await this.guard('folder', name, () => this.client.noop());
    }
    const st = await this.guard('folder', name, () =>
      this.client.status(name, { messages: true, uidNext: true, uidValidity: true, highestModseq: true }),
    );
    if (!st)
      throw mapImapError({ responseStatus: 'NO' }, { endpoint: this.endpoint, op: 'folder', folder: name });
    return {
      messages: st.messages ?? 0,
      uidNext: st.uidNext,
      uidValidity: st.uidValidity?.toString(),
      highestModseq: st.highestModseq?.toString(),
    };
  }

  /** The personal namespace (RFC 2342) imapflow read at login: where this user's folders live. */
  get namespace(): FolderNamespace {
    const ns = this.client.namespace as { prefix?: string; delimiter?: string | null } | undefined;
    return { prefix: ns?.prefix ?? '', delimiter: ns?.delimiter || '/' };
  }

  /** EXAMINE the folder and fetch every message's metadata (never bodies). */
  async inventory(folder: FolderInfo, options: InventoryOptions = {}): Promise<FolderInventory> {
    return this.withFolder(folder.name, true, async () => {
      const box = this.client.mailbox;
      if (!box) throw new ConnectionError('ECLOSED', `connection to ${this.endpoint.host} closed`);
      const since = Math.max(1, options.sinceUid ?? 1);
      const messages: MessageMeta[] = [];
      // Some servers (Courier) send no UIDNEXT on SELECT: then only EXISTS says whether to fetch.
      const uidNext = box.uidNext || undefined;
      if (box.exists > 0 && (uidNext === undefined || since < uidNext)) {
        const query = {
          uid: true,
          size: true,
          internalDate: true,
          flags: true,
          headers: ['message-id'],
          ...providerQuery(this.client),
        };
        // Collect first: another command inside this loop would deadlock the connection. Each row
        // becomes a small MessageMeta at once: imapflow's row objects are not kept per folder.
        await this.guard('folder', folder.name, async () => {
          const seen = new Set<number>();
          for await (const m of this.client.fetch(`${since}:*`, query, { uid: true })) {
            this.checkRow(folder.name, m, seen, box.exists);
            // `N:*` also returns the highest UID when it is below N.
            if (m.uid >= since) messages.push(messageMeta(m));
          }
        });
      }
      return {
        folder,
        // A server may leave UIDVALIDITY out: then UIDs cannot carry a resume, identity matching does.
        uidValidity: box.uidValidity?.toString(),
        // Unknown stays unknown: folderStatus() (STATUS) is what re-runs compare.
        ...(uidNext !== undefined ? { uidNext } : {}),
        highestModseq: box.highestModseq?.toString(),
        messages,
      };
    });
  }

  /**
   * One UID twice would plan one message as two (stored twice, another never), and rows far
   * past EXISTS are a flood: either is the server's protocol error, for this folder.
   */
  private checkRow(folder: string, m: FetchMessageObject, seen: Set<number>, exists: number): void {
    const host = this.endpoint.host;
    const hint = 'the server answered FETCH wrongly; run again later or report it to its operator';
    if (seen.has(m.uid)) {
      throw new FolderError('EFOLDER', `${host} listed UID ${m.uid} twice in '${folder}'`, { hint });
    }
    seen.add(m.uid);
    const cap = inventoryCap(Math.max(exists, this.client.mailbox ? this.client.mailbox.exists : 0));
    if (seen.size > cap) {
      // Closing is the only way to stop a flood: the rest of the reply would be read first.
      this.client.close();
      throw new FolderError('EFOLDER', `${host} listed more messages than the ${exists} '${folder}' holds`, {
        hint,
      });
    }
  }

  /** Total bytes in a folder: STATUS=SIZE when offered, else the sum of RFC822.SIZE. */
  async folderBytes(name: string): Promise<{ messages: number; bytes: number }> {
    if (this.client.capabilities.has('STATUS=SIZE') || this.client.enabled.has('IMAP4REV2')) {
      const st = await this.guard('folder', name, () =>
        this.client.status(name, { messages: true, size: true }),
      );
      if (st && st.size !== undefined) return { messages: st.messages ?? 0, bytes: st.size };
    }
    return this.withFolder(name, true, async () => {
      const box = this.client.mailbox;
      let bytes = 0;
      let messages = 0;
      if (box && box.exists > 0) {
        await this.guard('folder', name, async () => {
          for await (const m of this.client.fetch('1:*', { size: true }, { uid: true })) {
            bytes += m.size ?? 0;
            messages++;
          }
        });
      }
      return { messages, bytes };
    });
  }

  /** Log out; never throws, also on a connection that is already gone. */
  async close(): Promise<void> {
    try {
      if (this.client.usable) await this.client.logout();
    } catch {
      // the connection is going away either way
    } finally {
      this.client.close();
    }
  }
}
