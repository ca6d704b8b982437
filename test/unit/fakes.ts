import { Readable } from 'node:stream';
import { ConnectionError } from '../../src/errors.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import type {
  AppendInput,
  AppendResult,
  FolderInfo,
  FolderInventory,
  MessageMeta,
  Sink,
  Source,
} from '../../src/types.js';

/** In-memory endpoints for executor unit tests; integration tests use the real Dovecot rig. */
export class MemorySource implements Source {
  readonly capabilities = {
    hasFolders: true,
    keepsFlags: true,
    lazyIdentity: false,
    maxConnections: 2,
  };
  opened = 0;
  failOpen: (id: string) => Error | undefined = () => undefined;
  constructor(readonly messages: Map<string, { meta: MessageMeta; raw: Buffer }>) {}
  async listFolders(): Promise<FolderInfo[]> {
    return [{ name: 'INBOX', delimiter: '/' }];
  }
  async inventory(folder: FolderInfo): Promise<FolderInventory> {
    return { folder, messages: [...this.messages.values()].map((m) => m.meta) };
  }
  async open(_f: FolderInfo, m: MessageMeta): Promise<Readable> {
    this.opened++;
    const err = this.failOpen(m.id);
    if (err) throw err;
    return Readable.from([this.messages.get(m.id)!.raw]);
  }
  async close(): Promise<void> {}
}

export class MemorySink implements Sink {
  readonly capabilities = {
    hasFolders: true,
    keepsFlags: true,
    maxConnections: 2,
  };
  readonly stored: Array<{ folder: string; raw: Buffer; flags: string[]; date?: Date; meta: MessageMeta }> =
    [];
  failAppend: (id: string) => Error | undefined = () => undefined;
  /** Stores the message, then fails as if the connection dropped before the answer. */
  loseAnswer: (id: string) => boolean = () => false;
  corrupt = false;
  async listFolders(): Promise<FolderInfo[]> {
    return [{ name: 'INBOX', delimiter: '/' }];
  }
  async ensureFolder(): Promise<void> {}
  async inventory(folder: string): Promise<FolderInventory> {
    return {
      folder: { name: folder, delimiter: '/' },
      messages: this.stored
        .filter((s) => s.folder === folder)
        .map((s, i) => ({ ...s.meta, id: String(i + 1), flags: s.flags })),
    };
  }
  async append(input: AppendInput): Promise<AppendResult> {
    const chunks: Buffer[] = [];
    for await (const c of input.body) chunks.push(c as Buffer);
    const err = this.failAppend(input.meta.id);
    if (err) throw err;
    const raw = Buffer.concat(chunks);
    this.stored.push({
      folder: input.folder,
      raw,
      flags: input.flags,
      date: input.internalDate,
      meta: input.meta,
    });
    if (this.loseAnswer(input.meta.id)) throw new ConnectionError('ECONNRESET', 'reset before the answer');
    return { id: String(this.stored.length), sha256: this.corrupt ? 'bad' : crlfSha256(raw) };
  }
  async find(folder: string, meta: MessageMeta): Promise<string[]> {
    return this.stored
      .map((s, i) => ({ s, id: String(i + 1) }))
      .filter(
        ({ s }) => s.folder === folder && s.meta.messageId === meta.messageId && s.raw.length === meta.size,
      )
      .map(({ id }) => id);
  }

  async close(): Promise<void> {}
}

export function corpusLike(n: number): Map<string, { meta: MessageMeta; raw: Buffer }> {
  const out = new Map<string, { meta: MessageMeta; raw: Buffer }>();
  for (let i = 1; i <= n; i++) {
    const raw = Buffer.from(`Message-ID: <m${i}@x>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);
    out.set(String(i), {
      meta: {
        id: String(i),
        size: raw.length,
        flags: ['\\Seen'],
        internalDate: new Date(1e12 + i * 1000),
        messageId: `m${i}@x`,
      },
      raw,
    });
  }
  return out;
}
