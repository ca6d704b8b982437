import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/formats/zip/crc.js';
import type { JournalRecord } from '../../src/formats/zip/journal.js';
import { ZipReader } from '../../src/formats/zip/reader.js';
import { encodeLocalHeader, METHOD_STORE, U32_MAX } from '../../src/formats/zip/structures.js';
import { ZipWriter } from '../../src/formats/zip/writer.js';
import { createZipSink } from '../../src/stores/zip/sink.js';
import { createZipSource } from '../../src/stores/zip/source.js';
import {
  cliTestArchive,
  corpusMessages,
  ownDigests,
  pythonDigests,
  sha256,
  yauzlDigests,
} from './fixtures/zip-check.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailferry-zip64-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('zip64', () => {
  // ~20 s on an idle machine; generous limit for a loaded CI runner.
  it('writes more than 65,535 entries that unzip, Python, 7-Zip and yauzl read back', {
    timeout: 300_000,
  }, async () => {
    const path = join(dir, 'many.zip');
    const count = 70_000;
    const { writer } = await ZipWriter.open(path, { fsync: false });
    const body = (i: number) => Buffer.from(`Subject: ${i}\r\n\r\n${i}\r\n`);
    for (let start = 0; start < count; start += 1000) {
      const batch = Array.from({ length: Math.min(1000, count - start) }, (_, k) => start + k);
      await Promise.all(
        batch.map((i) =>
          writer.addEntry(
            {
              name: `d${Math.floor(i / 10_000)}/${String(i).padStart(6, '0')}.eml`,
              mtime: new Date(),
              method: 'store',
            },
            Readable.from([body(i)]),
          ),
        ),
      );
    }
    await writer.finish();
    await writer.close();

    // unzip, 7-Zip and Python check every entry; yauzl and ZipReader walk the whole directory
    // but read a sample (at ~150 us per entry they would add 20 s and prove nothing more).
    cliTestArchive(path);
    const py = pythonDigests(path);
    expect(py.size).toBe(count);
    const nameOf = (i: number) => `d${Math.floor(i / 10_000)}/${String(i).padStart(6, '0')}.eml`;
    const sample = [0, 1, 9_999, 10_000, 65_534, 65_535, 65_536, count - 1];
    const yz = await yauzlDigests(path, new Set(sample.map(nameOf)));
    const own = await ownDigests(path, new Set(sample.map(nameOf)));
    expect([yz.count, own.count]).toEqual([count, count]);
    for (const i of sample) {
      const want = sha256(body(i));
      expect([py.get(nameOf(i)), yz.digests.get(nameOf(i)), own.digests.get(nameOf(i))]).toEqual([
        want,
        want,
        want,
      ]);
    }
    for (let i = 0; i < count; i++) expect(py.get(nameOf(i))).toBe(sha256(body(i)));
  });

  it('writes offsets beyond 4 GiB (sparse padding entry) that every reader follows', async () => {
    // A stored entry of ~4 GiB zeros, written as a hole: later entries start past 2^32 without writing 4 GiB.
    const path = join(dir, 'far.zip');
    const padSize = U32_MAX - 1;
    const zeros = Buffer.alloc(64 << 20);
    let crc = 0;
    for (let left = padSize; left > 0; left -= zeros.length)
      crc = crc32(zeros.subarray(0, Math.min(left, zeros.length)), crc);
    const mtime = new Date(Date.UTC(2020, 0, 1));
    const header = encodeLocalHeader({
      name: 'padding.bin',
      method: METHOD_STORE,
      mtime,
      crc,
      compressedSize: padSize,
      size: padSize,
    });
    const fh = await open(path, 'w', 0o600);
    await fh.write(header, 0, header.length, 0);
    await fh.truncate(header.length + padSize);
    await fh.close();
    const records: JournalRecord[] = [
      { t: 'head', v: 1, created: mtime.toISOString(), start: 0 },
      {
        t: 'entry',
        name: 'padding.bin',
        offset: 0,
        end: header.length + padSize,
        method: METHOD_STORE,
        crc,
        csize: padSize,
        size: padSize,
        mtime: mtime.getTime(),
      },
    ];
    await writeFile(`${path}.journal`, records.map((r) => `${JSON.stringify(r)}\n`).join(''), {
      mode: 0o600,
    });

    const messages = corpusMessages(20);
    const sink = await createZipSink(path);
    const ids: string[] = [];
    for (const [i, m] of messages.entries()) {
      const r = await sink.append({
        folder: 'INBOX',
        meta: { id: `${i}`, size: m.body.length, flags: [] },
        flags: [],
        body: Readable.from([m.body]),
      });
      ids.push(r.id!);
    }
    await sink.close();
    expect((await stat(path)).size).toBeGreaterThan(2 ** 32);

    const reader = await ZipReader.open(path);
    const offsets = reader.entries.filter((e) => e.name.endsWith('.eml')).map((e) => e.offset);
    await reader.close();
    expect(Math.min(...offsets)).toBeGreaterThan(2 ** 32);

    // Check our entries only: reading 4 GiB of zeros proves nothing about offsets.
    cliTestArchive(path, ids);
    const want = new Map(ids.map((id, i) => [id, sha256(messages[i]!.body)]));
    expect(pythonDigests(path, ids)).toEqual(want);
    expect((await yauzlDigests(path, new Set(ids))).digests).toEqual(want);
    expect((await ownDigests(path, new Set(ids))).digests).toEqual(want);
    const source = await createZipSource(path);
    const inv = await source.inventory({ name: 'INBOX', delimiter: '/' });
    expect(inv.messages.map((m) => m.id).sort()).toEqual([...ids].sort());
    await source.close();
  });
});
