import { randomBytes } from 'node:crypto';
import {
  appendFile,
  type FileHandle,
  mkdtemp,
  open,
  readFile,
  rm,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessageError } from '../../src/errors.js';
import { crc32, crc32Portable } from '../../src/formats/zip/crc.js';
import { MANIFEST_NAME } from '../../src/formats/zip/manifest.js';
import { ZipReader } from '../../src/formats/zip/reader.js';
import { ZipWriter } from '../../src/formats/zip/writer.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { collisionKey, isSafeRelativePath } from '../../src/mail/safe-names.js';
import { createZipSink } from '../../src/stores/zip/sink.js';
import { createZipSource } from '../../src/stores/zip/source.js';
import type { Sink } from '../../src/types.js';
import { checkWithAllReaders, corpusMessages, sha256 } from './fixtures/zip-check.js';

const messages = corpusMessages(200);
let dir: string;
let n = 0;
const fresh = () => join(dir, `t${++n}.zip`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailferry-zip-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function chunked(data: Buffer, size = 700): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

/** Append messages[from..to) with four concurrent workers, as the executor would. */
async function fill(
  sink: Sink,
  from: number,
  to: number,
  folderOf = (i: number) => (i % 5 === 0 ? 'Sent' : 'INBOX'),
) {
  const queue = Array.from({ length: to - from }, (_, k) => from + k);
  const results = new Map<number, { id?: string; sha256?: string }>();
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const body = messages[i]!.body;
      const r = await sink.append({
        folder: folderOf(i),
        meta: { id: `src-${i}`, size: body.length, flags: [], messageId: `m${i}@test` },
        flags: i % 2 ? ['\\Seen', '$Label1'] : [],
        internalDate: new Date(Date.UTC(2003, 4, 1 + (i % 28), 10, 20, 30)),
        body: chunked(body),
      });
      results.set(i, r);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return results;
}

describe('zip writer and reader', () => {
  it('writes corpus messages every reader accepts, byte for byte', async () => {
    const path = fresh();
    const sink = await createZipSink(path);
    await sink.ensureFolder({ name: 'Sent', delimiter: '/', specialUse: '\\Sent', subscribed: true });
    const results = await fill(sink, 0, messages.length);
    await sink.close();

    const { digests } = await checkWithAllReaders(path);
    expect(digests.size).toBe(messages.length + 1);
    for (const [i, r] of results) {
      expect(digests.get(r.id!)).toBe(sha256(messages[i]!.body));
      expect(r.sha256).toBe(crlfSha256(messages[i]!.body));
      expect(r.id).toMatch(i % 5 === 0 ? /^Sent\/\d{6}\.eml$/ : /^INBOX\/\d{6}\.eml$/);
    }
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(`${path}.journal`)).mode & 0o777).toBe(0o600);
  });

  it('restores folders, flags, dates and Message-IDs through the source', async () => {
    const path = fresh();
    const sink = await createZipSink(path);
    await sink.ensureFolder({ name: 'Sent', delimiter: '/', specialUse: '\\Sent', subscribed: false });
    await fill(sink, 0, 30);
    await sink.close();

    const source = await createZipSource(path);
    const folders = await source.listFolders();
    expect(folders.map((f) => f.name).sort()).toEqual(['INBOX', 'Sent']);
    expect(folders.find((f) => f.name === 'Sent')).toMatchObject({ specialUse: '\\Sent', subscribed: false });
    let seen = 0;
    for (const folder of folders) {
      const inv = await source.inventory(folder);
      expect(inv.skipped).toBeUndefined();
      for (const m of inv.messages) {
        const i = Number(/^m(\d+)@test$/.exec(m.messageId ?? '')![1]);
        expect(m.flags).toEqual(i % 2 ? ['\\Seen', '$Label1'] : []);
        expect(m.internalDate?.toISOString()).toBe(
          new Date(Date.UTC(2003, 4, 1 + (i % 28), 10, 20, 30)).toISOString(),
        );
        expect(m.sha256).toBe(crlfSha256(messages[i]!.body));
        const chunks: Buffer[] = [];
        for await (const c of await source.open(folder, m)) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).equals(messages[i]!.body)).toBe(true);
        seen++;
      }
    }
    expect(seen).toBe(30);
    await source.close();
  });

  it('inventories what the archive holds, so a re-run skips it', async () => {
    const path = fresh();
    const a = await createZipSink(path);
    expect(await a.inventory('INBOX')).toBeUndefined();
    await fill(a, 0, 10);
    await a.close();
    const b = await createZipSink(path);
    const inv = await b.inventory('INBOX');
    expect(inv?.messages).toHaveLength(8);
    const first = inv!.messages.find((m) => m.messageId === 'm1@test')!;
    expect(first).toMatchObject({ size: messages[1]!.body.length, flags: ['\\Seen', '$Label1'] });
    expect(first.sha256).toBe(crlfSha256(messages[1]!.body));
    expect((await b.listFolders()).map((f) => f.name).sort()).toEqual(['INBOX', 'Sent']);
    await b.close();
  });

  it('leaves no trace of an append whose body fails midway, and goes on', async () => {
    const path = fresh();
    const sink = await createZipSink(path);
    await fill(sink, 0, 3);
    const broken = new PassThrough();
    broken.write(messages[5]!.body.subarray(0, 900));
    setTimeout(() => broken.destroy(new Error('connection reset')), 5);
    const failed = sink.append({
      folder: 'INBOX',
      meta: { id: 'x', size: 5000, flags: [] },
      flags: [],
      body: broken,
    });
    await expect(failed).rejects.toThrow('connection reset');
    await fill(sink, 3, 6);
    await sink.close();
    const { digests } = await checkWithAllReaders(path);
    expect(digests.size).toBe(7);
    expect([...digests.values()]).not.toContain(sha256(messages[5]!.body.subarray(0, 900)));
  });

  it('survives a body that fails while waiting for its turn', async () => {
    const path = fresh();
    const sink = await createZipSink(path);
    const slow = new PassThrough();
    const first = sink.append({
      folder: 'INBOX',
      meta: { id: 'a', size: 0, flags: [] },
      flags: [],
      body: slow,
    });
    const waiting = new PassThrough();
    const second = sink.append({
      folder: 'INBOX',
      meta: { id: 'b', size: 0, flags: [] },
      flags: [],
      body: waiting,
    });
    waiting.destroy(new Error('reset while queued'));
    await new Promise((r) => setTimeout(r, 20));
    slow.end(messages[0]!.body);
    await expect(second).rejects.toThrow('reset while queued');
    expect((await first).id).toBe('INBOX/000001.eml');
    await sink.close();
    expect((await checkWithAllReaders(path)).digests.size).toBe(2);
  });

  it('recovers from a torn journal line and a half-written central directory', async () => {
    const path = fresh();
    const a = await createZipSink(path);
    await fill(a, 0, 12);
    await a.close();
    // As if killed after writing the directory, before journaling 'finish', mid-way through the next line.
    const journal = await readFile(`${path}.journal`, 'utf8');
    const lines = journal.trimEnd().split('\n');
    expect(JSON.parse(lines.pop()!).t).toBe('finish');
    await writeFile(`${path}.journal`, `${lines.join('\n')}\n{"t":"entry","name":"INB`);
    await appendFile(path, randomBytes(100));
    const b = await createZipSink(path);
    expect((await b.inventory('INBOX'))?.messages).toHaveLength(9);
    await fill(b, 12, 20);
    await b.close();
    const { digests } = await checkWithAllReaders(path);
    expect(digests.size).toBe(21);
  });

  it('refuses a journal damaged before its last line', async () => {
    const path = fresh();
    const a = await createZipSink(path);
    await fill(a, 0, 5);
    await a.close();
    const lines = (await readFile(`${path}.journal`, 'utf8')).split('\n');
    lines[2] = '{"t":"entry", garbage';
    await writeFile(`${path}.journal`, lines.join('\n'));
    await expect(createZipSink(path)).rejects.toMatchObject({ exitCode: 2, message: /corrupt zip journal/ });
  });

  it('refuses an archive shorter than its journal', async () => {
    const path = fresh();
    const a = await createZipSink(path);
    await fill(a, 0, 5);
    await a.close();
    await truncate(path, 200);
    await expect(createZipSink(path)).rejects.toThrow(/shorter than its journal/);
  });

  it('rebuilds a lost journal from the manifest, then appends', async () => {
    const path = fresh();
    const a = await createZipSink(path);
    await fill(a, 0, 15);
    await a.close();
    const before = await readFile(path);
    await unlink(`${path}.journal`);
    const b = await createZipSink(path);
    expect(await readFile(path)).toEqual(before);
    expect((await b.inventory('INBOX'))?.messages.map((m) => m.messageId).sort()).toHaveLength(12);
    await fill(b, 15, 25);
    await b.close();
    const { digests } = await checkWithAllReaders(path);
    expect(digests.size).toBe(26);
    const names = [...digests.keys()].filter((k) => k.startsWith('INBOX/'));
    expect(new Set(names).size).toBe(20);
  });

  it('keeps flag changes (setFlags) in the rewritten manifest', async () => {
    const path = fresh();
    const a = await createZipSink(path);
    const results = await fill(a, 0, 4);
    await a.close();
    const b = await createZipSink(path);
    await b.setFlags!('INBOX', results.get(1)!.id!, ['\\Answered']);
    await b.close();
    const source = await createZipSource(path);
    const inv = await source.inventory({ name: 'INBOX', delimiter: '/' });
    expect(inv.messages.find((m) => m.id === results.get(1)!.id)?.flags).toEqual(['\\Answered']);
    await source.close();
  });

  it('writes zip64 records when forced, and every reader still agrees', async () => {
    const path = fresh();
    const sink = await createZipSink(path, { forceZip64: true });
    await fill(sink, 0, 20);
    await sink.close();
    const { digests } = await checkWithAllReaders(path);
    expect(digests.size).toBe(21);
    const tail = (await readFile(path)).subarray(-98);
    expect(tail.readUInt32LE(0)).toBe(0x06064b50);
  });

  it('computes the same CRC-32 natively and with the table', () => {
    const data = randomBytes(100_000);
    expect(crc32(data)).toBe(crc32Portable(data));
    expect(crc32(data.subarray(500), crc32(data.subarray(0, 500)))).toBe(crc32Portable(data));
    expect(crc32Portable(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('zip sink folder names', () => {
  it('maps hostile and colliding folder names to safe, distinct entry paths', async () => {
    const path = fresh();
    const sink = await createZipSink(path);
    const names = [
      '..',
      '/abs',
      'CON',
      'INBOX',
      'Inbox',
      'inbox',
      'a\\b',
      '000001.eml',
      MANIFEST_NAME,
      'A/../../x',
      'C:',
    ];
    const ids: string[] = [];
    for (const [i, folder] of names.entries()) {
      const body = messages[i]!.body;
      const r = await sink.append({
        folder,
        meta: { id: `${i}`, size: body.length, flags: [] },
        flags: [],
        body: Readable.from([body]),
      });
      ids.push(r.id!);
    }
    await sink.close();
    for (const id of ids) expect(isSafeRelativePath(id), id).toBe(true);
    const dirs = ids.map((id) => id.slice(0, id.lastIndexOf('/')));
    expect(new Set(dirs.map((d) => collisionKey([d]))).size).toBe(names.length);
    // No folder directory may coincide with a message file or the manifest.
    for (const d of dirs) {
      expect(ids.map((id) => id.toLowerCase())).not.toContain(d.toLowerCase());
      expect(d.toLowerCase()).not.toBe(MANIFEST_NAME);
    }
    const { digests } = await checkWithAllReaders(path);
    expect(digests.size).toBe(names.length + 1);
    const source = await createZipSource(path);
    expect((await source.listFolders()).map((f) => f.name).sort()).toEqual([...names].sort());
    await source.close();
  });
});

describe('ZipWriter', () => {
  it('detects corrupted entry data when reading (CRC check)', async () => {
    const path = fresh();
    const { writer } = await ZipWriter.open(path);
    await writer.addEntry({ name: 'a.eml', mtime: new Date() }, Readable.from([messages[0]!.body]));
    await writer.finish();
    await writer.close();
    const data = await readFile(path);
    data[70] = data[70]! ^ 0xff; // inside the deflated data (header: 30 + name 5 + extra 9 bytes)
    await writeFile(path, data);
    const reader = await ZipReader.open(path);
    const read = async () => {
      for await (const _ of await reader.openEntry(reader.entries[0]!)) {
      }
    };
    await expect(read()).rejects.toThrow(/CRC|invalid|more data/);
    await reader.close();
  });

  it('groups fsyncs but resolves every append only once durable', async () => {
    const path = fresh();
    const { writer } = await ZipWriter.open(path, { groupEntries: 4 });
    const probe = await open(join(dir, 'probe'), 'w');
    const sync = vi.spyOn(Object.getPrototypeOf(probe) as FileHandle, 'sync');
    await probe.close();
    const done = await Promise.all(
      messages
        .slice(0, 10)
        .map((m, i) => writer.addEntry({ name: `${i}.eml`, mtime: new Date() }, Readable.from([m.body]))),
    );
    // Ten appends queued at once: commits after 4, 8 and 10 entries, each one archive and one journal fsync.
    expect(sync).toHaveBeenCalledTimes(6);
    sync.mockRestore();
    // Once resolved, every entry is in the journal on disk.
    const journal = await readFile(`${path}.journal`, 'utf8');
    for (const e of done) expect(journal).toContain(`"name":"${e.name}"`);
    await writer.finish();
    await writer.close();
  });

  it('throws MessageError for data it cannot stream', async () => {
    const path = fresh();
    const { writer } = await ZipWriter.open(path);
    await writer.addEntry({ name: 'ok.eml', mtime: new Date() }, Readable.from([messages[0]!.body]));
    const body = new Readable({
      read() {
        this.destroy(new MessageError('EGONE', 'vanished'));
      },
    });
    await expect(writer.addEntry({ name: 'x.eml', mtime: new Date() }, body)).rejects.toBeInstanceOf(
      MessageError,
    );
    await writer.finish();
    await writer.close();
    expect([...(await checkWithAllReaders(path)).digests.keys()]).toEqual(['ok.eml']);
  });
});
