import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseEndpoint } from '../../src/endpoint.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { sinks, sources } from '../../src/stores/registry.js';
import { silentLogger } from '../../src/util/log.js';

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

/**
 * The messages of every .mbox file under `dir` as another mboxrd reader sees them, without
 * mailferry's sidecar: split at "From " lines, one '>' taken off quoted From lines, the blank
 * separator line dropped. A message that had no final newline shows one more "\n".
 */
export function parseMboxDir(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('.mbox')) continue;
    const text = readFileSync(join(dir, entry)).toString('latin1');
    const starts: number[] = text.startsWith('From ') ? [0] : [];
    for (let p = text.indexOf('\nFrom '); p >= 0; p = text.indexOf('\nFrom ', p + 1)) starts.push(p + 1);
    starts.forEach((s, i) => {
      const bodyStart = text.indexOf('\n', s) + 1;
      const end = (i + 1 < starts.length ? starts[i + 1]! : text.length) - 1;
      const body = text.slice(bodyStart, end).replace(/(^|\n)>(>*From )/g, '$1$2');
      out.push(Buffer.from(body, 'latin1'));
    });
  }
  return out;
}

/** The .eml entries of a zip archive as Python's zipfile reads them (another reader, CRCs checked). */
export function zipEntriesByPython(path: string): Buffer[] {
  const py = `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.endswith('.eml'):
        print(z.read(n).hex())`;
  const out = execFileSync('python3', ['-c', py, path], { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l, i, all) => i < all.length - 1 || l !== '')
    .map((l) => Buffer.from(l, 'hex'));
}
