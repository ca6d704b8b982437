import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessageError } from '../../src/errors.js';
import { ZipReader } from '../../src/formats/zip/reader.js';
import { messageIdOf } from '../../src/mail/headers.js';
import { createZipSource } from '../../src/stores/zip/source.js';
import type { FolderInfo, Source } from '../../src/types.js';
import { corpusMessages } from './fixtures/zip-check.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailferry-zip-src-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Build a zip with Python's zipfile, which writes any name it is given (ZipInfo is not sanitised). */
function pythonZip(path: string, entries: Array<[name: string, text: string]>): void {
  const script = [
    'import json, sys, zipfile',
    'entries = json.load(sys.stdin)',
    "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:",
    '    for name, text in entries:',
    "        z.writestr(zipfile.ZipInfo(name, (2004, 5, 6, 7, 8, 10)), text.encode('utf-8'))",
  ].join('\n');
  execFileSync('python3', ['-c', script, path], { input: JSON.stringify(entries) });
}

async function readAll(source: Source, folder: FolderInfo, id: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await source.open(folder, { id, size: 0, flags: [] })) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('zip source, hostile archive', () => {
  it('lists entries that could escape the root as skipped and never opens them', async () => {
    const path = join(dir, 'hostile.zip');
    const good = 'Message-ID: <good@test>\r\nSubject: fine\r\n\r\nhello\r\n';
    const evil = [
      '../evil.eml',
      '/abs.eml',
      'C:\\x.eml',
      'a/../../b.eml',
      'INBOX\\..\\..\\c.eml',
      'CON/d.eml',
    ];
    pythonZip(path, [
      ['INBOX/1.eml', good],
      ...evil.map((n): [string, string] => [n, `Subject: ${n}\r\n\r\nbad\r\n`]),
    ]);

    const opened: string[] = [];
    const original = ZipReader.prototype.openEntry;
    const spy = vi.spyOn(ZipReader.prototype, 'openEntry').mockImplementation(function (this: ZipReader, e) {
      opened.push(e.name);
      return original.call(this, e);
    });
    try {
      const source = await createZipSource(path);
      const folders = await source.listFolders();
      expect(folders.map((f) => f.name)).toEqual(['INBOX']);
      const inv = await source.inventory(folders[0]!);
      expect(inv.messages.map((m) => m.id)).toEqual(['INBOX/1.eml']);
      expect(inv.messages[0]!.messageId).toBe('good@test');
      expect(inv.skipped?.map((s) => s.id).sort()).toEqual([...evil].sort());
      for (const s of inv.skipped ?? []) expect(s.reason).toMatch(/escape/);
      expect(await readAll(source, folders[0]!, 'INBOX/1.eml')).toBe(good);
      for (const id of evil) {
        await expect(source.open(folders[0]!, { id, size: 0, flags: [] })).rejects.toBeInstanceOf(
          MessageError,
        );
      }
      await source.close();
      expect(opened).toEqual(['INBOX/1.eml', 'INBOX/1.eml']);
    } finally {
      spy.mockRestore();
    }
  });

  it('reports unsafe entries even when no safe folder exists', async () => {
    const path = join(dir, 'only-evil.zip');
    pythonZip(path, [['../evil.eml', 'Subject: x\r\n\r\nx\r\n']]);
    const source = await createZipSource(path);
    const folders = await source.listFolders();
    expect(folders.map((f) => f.name)).toEqual(['INBOX']);
    const inv = await source.inventory(folders[0]!);
    expect(inv.messages).toEqual([]);
    expect(inv.skipped).toEqual([{ id: '../evil.eml', reason: expect.stringMatching(/escape/) }]);
    await source.close();
  });
});

describe('zip source, archives mailferry did not write', () => {
  it('derives folders from entry paths and Message-IDs from headers', async () => {
    const path = join(dir, 'foreign.zip');
    const corpus = corpusMessages(3).map((m) => m.body.toString('latin1'));
    pythonZip(path, [
      ['top.eml', corpus[0]!],
      ['Work/Projects/a.eml', corpus[1]!],
      ['Work/Projects/README.txt', 'not mail'],
      ['Work/b.eml', 'Subject: folded\r\nMessage-ID:\r\n  <folded@test>\r\n\r\nbody\r\n'],
      ['Work/c.eml', corpus[2]!],
    ]);
    const source = await createZipSource(path);
    const folders = await source.listFolders();
    expect(folders.map((f) => f.name).sort()).toEqual(['INBOX', 'Work', 'Work/Projects']);
    const work = await source.inventory(folders.find((f) => f.name === 'Work')!);
    expect(work.messages.map((m) => [m.id, m.messageId])).toEqual([
      ['Work/b.eml', 'folded@test'],
      ['Work/c.eml', messageIdOf(Buffer.from(corpus[2]!, 'latin1'))],
    ]);
    expect(work.messages[0]!.internalDate?.getFullYear()).toBe(2004);
    expect(messageIdOf(Buffer.from(corpus[2]!, 'latin1'))).toMatch(/@/);
    const stats = await source.stat!();
    expect(stats.reduce((n, s) => n + s.messages, 0)).toBe(4);
    await source.close();
  });

  it('refuses a file that is not a zip (for example an unfinished archive) with a usage error', async () => {
    const path = join(dir, 'not.zip');
    pythonZip(path, [['a.eml', 'x']]);
    execFileSync('truncate', ['-s', '40', path]);
    await expect(createZipSource(path)).rejects.toMatchObject({ exitCode: 2 });
  });
});
