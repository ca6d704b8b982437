import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { crlfSha256 } from '../../src/mail/hash.js';
import type { ServerAccount, ServerInfo } from './servers.js';

/**
 * Seeding and reading an account on any rig server over IMAPS with imapflow directly: an
 * independent check of what mailferry wrote, written without mailferry's folder mapping.
 */

export interface StoredMessage {
  uid: number;
  sha256: string;
  size: number;
  flags: string[];
  internalDate: Date;
  messageId?: string;
}

export interface StoredFolder {
  /** The name as the server lists it. */
  path: string;
  specialUse?: string;
  messages: StoredMessage[];
}

export async function connectAny(server: ServerInfo, user: string, password: string): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: server.host,
    port: server.ports.imaps,
    secure: true,
    auth: { user, pass: password },
    logger: false,
    disableAutoIdle: true,
    tls: { ca: [readFileSync(server.caFile, 'utf8')] },
  });
  await client.connect();
  return client;
}

export async function withAccount<T>(a: ServerAccount, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const client = await connectAny(a.server, a.user, a.password);
  try {
    return await fn(client);
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** The server's name for a '/'-separated logical path: its personal prefix, its delimiter. */
export function serverPath(server: ServerInfo, logical: string): string {
  if (logical.toUpperCase() === 'INBOX') return 'INBOX';
  const { prefix, delimiter } = server.namespace;
  return prefix + logical.split('/').join(delimiter);
}

/** The other way: prefix off, the server's delimiter to '/'. */
export function logicalOf(server: ServerInfo, path: string): string {
  if (path.toUpperCase() === 'INBOX') return 'INBOX';
  const { prefix, delimiter } = server.namespace;
  const rest = prefix && path.startsWith(prefix) ? path.slice(prefix.length) : path;
  return rest.split(delimiter).join('/');
}

/** Every selectable folder of the account with every message: bytes hashed, flags, dates. */
export async function readFolders(a: ServerAccount): Promise<StoredFolder[]> {
  return withAccount(a, async (client) => {
    const out: StoredFolder[] = [];
    for (const box of await client.list()) {
      if (box.flags.has('\\Noselect') || box.flags.has('\\NonExistent')) continue;
      const folder: StoredFolder = { path: box.path, messages: [] };
      if (box.specialUse) folder.specialUse = box.specialUse;
      const lock = await client.getMailboxLock(box.path, { readOnly: true });
      try {
        if (client.mailbox && client.mailbox.exists > 0) {
          for await (const m of client.fetch('1:*', {
            uid: true,
            flags: true,
            internalDate: true,
            source: true,
            envelope: true,
            size: true,
          })) {
            if (!m.source) continue;
            const s: StoredMessage = {
              uid: m.uid,
              sha256: crlfSha256(m.source),
              size: m.size ?? m.source.length,
              flags: [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort(),
              internalDate: new Date(m.internalDate ?? 0),
            };
            if (m.envelope?.messageId) s.messageId = m.envelope.messageId;
            folder.messages.push(s);
          }
        }
      } finally {
        lock.release();
      }
      out.push(folder);
    }
    return out;
  });
}

/** readFolders keyed by logical path ('/'-separated, no prefix). */
export async function readLogical(a: ServerAccount): Promise<Map<string, StoredFolder>> {
  const folders = await readFolders(a);
  return new Map(folders.map((f) => [logicalOf(a.server, f.path), f]));
}

export interface SeedFolder {
  /** Logical path, '/'-separated. */
  name: string;
  messages: Buffer[];
  specialUse?: string;
}

export interface Seeded {
  folder: string;
  sha256: string;
  flags: string[];
  internalDate: Date;
}

/** imapflow's command runner, as src/stores/imap/sink.ts uses it for commands imapflow lacks. */
interface RawExec {
  exec(command: string, attributes: unknown[]): Promise<{ next(): void }>;
}

const FLAG_SETS = [[], ['\\Seen'], ['\\Seen', '\\Flagged'], ['\\Answered', '\\Seen'], ['$Label1']];

/**
 * Create the folders (special-use ones with CREATE ... (USE ...) where offered) and append the
 * messages, CRLF-normalised (some servers refuse bare LF), with varied flags and fixed dates.
 */
export async function seedFolders(a: ServerAccount, folders: SeedFolder[]): Promise<Seeded[]> {
  return withAccount(a, (client) =>
    seedWith(client, a.server, folders).catch((err: { responseText?: string; message: string }) => {
      throw new Error(`seeding ${a.server.kind}: ${err.message}: ${err.responseText ?? ''}`);
    }),
  );
}

async function seedWith(client: ImapFlow, server: ServerInfo, folders: SeedFolder[]): Promise<Seeded[]> {
  {
    const listed = new Set((await client.list()).map((b) => b.path));
    const seeded: Seeded[] = [];
    let n = 0;
    for (const f of folders) {
      const path = serverPath(server, f.name);
      if (!listed.has(path)) {
        const special = f.specialUse && client.capabilities.has('CREATE-SPECIAL-USE');
        if (special) {
          const res = await (client as unknown as RawExec).exec('CREATE', [
            { type: 'ATOM', value: path },
            [{ type: 'ATOM', value: 'USE' }, [{ type: 'ATOM', value: f.specialUse }]],
          ]);
          res.next();
        } else await client.mailboxCreate(path);
        listed.add(path);
      }
      for (const raw of f.messages) {
        const flags = FLAG_SETS[n % FLAG_SETS.length]!;
        const internalDate = new Date(Date.UTC(2019, 0, 1) + n * 3_600_000);
        n++;
        const data = Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
        await client.append(path, data, flags, internalDate);
        seeded.push({ folder: f.name, sha256: crlfSha256(data), flags: [...flags].sort(), internalDate });
      }
    }
    return seeded;
  }
}
