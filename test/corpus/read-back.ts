import { Readable } from 'node:stream';
import { parseEndpoint } from '../../src/endpoint.js';
import { crlfSha256 } from '../../src/hash.js';
import { silentLogger } from '../../src/log.js';
import { sinks } from '../../src/sinks/index.js';
import { sources } from '../../src/sources/index.js';

export interface HeldMessage {
  folder: string;
  id: string;
  sha256: string;
  /** The bytes themselves, when asked for. */
  raw?: Buffer;
}

function contextOf(text: string) {
  return { endpoint: parseEndpoint(text), log: silentLogger, largeMessageBytes: 1 << 30 };
}

/** Every message a file endpoint (mbox:, zip:) holds, read with mailferry's own source adapter. */
export async function readFileEndpoint(text: string, opts: { bytes?: boolean } = {}): Promise<HeldMessage[]> {
  const ctx = contextOf(text);
  const source = await (await sources[ctx.endpoint.kind]())(ctx);
  const out: HeldMessage[] = [];
  try {
    for (const folder of await source.listFolders()) {
      if (folder.selectable === false) continue;
      for (const m of (await source.inventory(folder)).messages) {
        const chunks: Buffer[] = [];
        for await (const c of await source.open(folder, m)) chunks.push(c as Buffer);
        const raw = Buffer.concat(chunks);
        const held: HeldMessage = { folder: folder.name, id: m.id, sha256: crlfSha256(raw) };
        if (opts.bytes) held.raw = raw;
        out.push(held);
      }
    }
  } finally {
    await source.close();
  }
  return out;
}

/** Writes messages into a file endpoint with mailferry's own sink adapter, in order. */
export async function writeFileEndpoint(
  text: string,
  messages: Array<{ folder: string; raw: Buffer; chunk?: number }>,
): Promise<void> {
  const ctx = contextOf(text);
  const sink = await (await sinks[ctx.endpoint.kind]!())(ctx);
  try {
    const made = new Set<string>();
    for (const [i, m] of messages.entries()) {
      if (!made.has(m.folder)) await sink.ensureFolder({ name: m.folder, delimiter: '/' });
      made.add(m.folder);
      await sink.append({
        folder: m.folder,
        meta: { id: String(i + 1), size: m.raw.length, flags: [] },
        flags: [],
        internalDate: new Date(Date.UTC(2002, 9, 1, 10, 0, i)),
        body: Readable.from(split(m.raw, m.chunk ?? 64 * 1024), { objectMode: false }),
      });
    }
  } finally {
    await sink.close();
  }
}

function split(raw: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < raw.length; i += size) out.push(raw.subarray(i, i + size));
  return out.length ? out : [Buffer.alloc(0)];
}
