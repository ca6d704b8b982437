import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { parseEndpoint } from '../../src/endpoint.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { flagsOf, lettersOf, parseName } from '../../src/stores/maildir/filename.js';
import {
  decodeUtf7,
  encodeUtf7,
  folderDir,
  folderName,
  formatSubscriptions,
  parseSubscriptions,
} from '../../src/stores/maildir/names.js';
import { openMaildirSink } from '../../src/stores/maildir/sink.js';
import { openMaildirSource } from '../../src/stores/maildir/source.js';
import type { Sink, Source } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';

const ctxFor = (path: string): EndpointContext => ({
  endpoint: { kind: 'maildir', path },
  log: silentLogger,
  largeMessageBytes: 1 << 20,
});

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'mf-maildir-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function readAll(source: Source, folder: string, id: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await source.open({ name: folder, delimiter: '/' }, { id, size: 0, flags: [] }))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function put(sink: Sink, folder: string, raw: Buffer, flags: string[], date: Date) {
  return sink.append({
    folder,
    meta: { id: 'x', size: raw.length, flags },
    flags,
    internalDate: date,
    body: Readable.from([raw.subarray(0, 7), raw.subarray(7)], { objectMode: false }),
  });
}

describe('Maildir names', () => {
  it('spells folders as Dovecot does on disk (seen from doveadm mailbox create)', () => {
    expect(folderDir('Entwürfe')).toBe('.Entw&APw-rfe');
    expect(folderDir('日本語')).toBe('.&ZeVnLIqe-');
    expect(folderDir('R&D')).toBe('.R&-D');
    expect(folderDir('Parent/Child')).toBe('.Parent.Child');
    expect(folderDir('INBOX')).toBe('');
    expect(folderDir('.hidden')).toBe('.\\2ehidden');
    expect(folderDir('..')).toBe('.\\2e\\2e');
    expect(folderDir('~x')).toBe('.\\7ex');
    for (const n of ['Entwürfe', '日本語', 'R&D', 'a.b/c', '..', '~x', 'back\\slash', 'Say "hi"', '😀 emoji'])
      expect(folderName(folderDir(n))).toBe(n);
    expect(folderName('.')).toBeUndefined();
    expect(folderName('..')).toBeUndefined();
    expect(folderName('.a..b')).toBeUndefined();
    expect(decodeUtf7(encodeUtf7('a&b ü/€'))).toBe('a&b ü/€');
  });

  it("reads and writes Dovecot's subscriptions file", () => {
    const dovecot = 'V\t2\n\nEntw&APw-rfe\n&ZeVnLIqe-\nR&-D\nParent\tChild\n';
    expect([...parseSubscriptions(dovecot)]).toEqual(['Entwürfe', '日本語', 'R&D', 'Parent/Child']);
    expect(parseSubscriptions(formatSubscriptions(['Parent/Child', 'R&D']))).toEqual(
      new Set(['Parent/Child', 'R&D']),
    );
  });

  it('parses file names Dovecot writes and maps flags both ways', () => {
    const p = parseName('1796309605.M913326P12636.vm,S=36,W=40:2,DFRSTab');
    expect(p).toEqual({
      unique: '1796309605.M913326P12636.vm',
      fileSize: 36,
      crlfSize: 40,
      letters: 'DFRSTab',
    });
    expect(flagsOf(p.letters, ['$Forwarded', 'Junk'])).toEqual([
      '\\Draft',
      '\\Flagged',
      '\\Answered',
      '\\Seen',
      '\\Deleted',
      '$Forwarded',
      'Junk',
    ]);
    expect(parseName('1234.abc.host')).toEqual({ unique: '1234.abc.host', letters: '' });
    const kws: string[] = [];
    const { letters, dropped } = lettersOf(
      ['\\Seen', 'Junk', '\\Recent', '\\Weird', '\\Answered', 'x'],
      (k) => {
        kws.push(k);
        return kws.length - 1;
      },
    );
    expect(letters).toBe('RSab');
    expect(dropped).toEqual(['\\Weird']);
  });

  it('parses maildir: endpoints', () => {
    expect(parseEndpoint('maildir:/var/mail/me')).toEqual({ kind: 'maildir', path: '/var/mail/me' });
    expect(parseEndpoint('maildir:relative/dir')).toEqual({ kind: 'maildir', path: 'relative/dir' });
    expect(() => parseEndpoint('maildir:')).toThrow(/no path/);
  });
});

describe('Maildir sink and source', () => {
  it('round-trips bytes, flags, keywords and dates, and Dovecot-style files on disk', async () => {
    const root = join(base, 'rt');
    const sink = await openMaildirSink(ctxFor(root));
    const raw = Buffer.from('Message-ID: <rt1@test>\r\nSubject: a\r\n\r\nbody\nbare lf\r\n');
    const date = new Date('2002-10-01T10:00:00Z');
    await sink.ensureFolder({ name: 'Entwürfe/Sub', delimiter: '/', subscribed: true });
    const res = await put(sink, 'Entwürfe/Sub', raw, ['\\Seen', '$Label1', '\\Flagged'], date);
    expect(res.sha256).toBe(crlfSha256(raw));
    await put(sink, 'INBOX', raw, [], date);
    await sink.close();

    const dir = join(root, '.Entw&APw-rfe.Sub');
    const [file] = await readdir(join(dir, 'cur'));
    expect(file).toBe(`${res.id},S=${raw.length},W=${raw.length + 1}:2,FSa`);
    expect(await readFile(join(dir, 'dovecot-keywords'), 'utf8')).toBe('0 $Label1\n');
    expect((await stat(join(dir, 'maildirfolder'))).isFile()).toBe(true);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect((await stat(join(dir, 'cur', file!))).mtime.getTime()).toBe(date.getTime());
    expect(await readFile(join(root, 'subscriptions'), 'utf8')).toBe('V\t2\n\nEntw&APw-rfe\tSub\n');

    const source = await openMaildirSource(ctxFor(root));
    const folders = await source.listFolders();
    expect(folders.map((f) => [f.name, f.subscribed])).toEqual([
      ['INBOX', true],
      ['Entwürfe/Sub', true],
    ]);
    const inv = await source.inventory(folders[1]!);
    expect(inv.messages).toHaveLength(1);
    const m = inv.messages[0]!;
    expect(m).toMatchObject({ id: res.id, size: raw.length + 1, messageId: 'rt1@test', internalDate: date });
    expect(m.flags.sort()).toEqual(['$Label1', '\\Flagged', '\\Seen']);
    expect(await readAll(source, 'Entwürfe/Sub', m.id)).toEqual(raw);
    await source.close();
  });

  it('settles lost appends with find(), changes flags by rename, and cleans a dead run’s tmp/', async () => {
    const root = join(base, 'crash');
    const sink = await openMaildirSink(ctxFor(root));
    const raw = Buffer.from('Subject: no id\r\n\r\nx\r\n');
    const date = new Date('2010-01-02T03:04:05Z');
    const res = await put(sink, 'INBOX', raw, [], date);
    const meta = { id: 'src-1', size: raw.length, flags: [], internalDate: date };
    expect(await sink.find!('INBOX', meta)).toEqual([res.id]);
    expect(await sink.find!('INBOX', { ...meta, size: raw.length + 1 })).toEqual([]);
    await sink.setFlags!('INBOX', res.id!, ['\\Answered', 'Work']);
    const inv = await sink.inventory('INBOX');
    expect(inv?.messages.map((m) => m.flags.sort())).toEqual([['Work', '\\Answered']]);
    await sink.close();
    // A killed run (pid 999999 is not running) left a half-written file; another program's fresh one stays.
    await writeFile(
      join(root, 'tmp', `1700000000.M1P999999Q1.${(await import('node:os')).hostname()}`),
      'half',
    );
    await writeFile(join(root, 'tmp', '1700000000.other-mda.host'), 'in progress');
    const again = await openMaildirSink(ctxFor(root));
    expect(await readdir(join(root, 'tmp'))).toEqual(['1700000000.other-mda.host']);
    expect((await again.inventory('INBOX'))?.messages).toHaveLength(1);
    await again.close();
  });

  it('reads a foreign Maildir: LF files, new/ without info, files without sizes', async () => {
    const root = join(base, 'foreign');
    for (const d of ['cur', 'new', 'tmp', '.Work/cur', '.Work/new', '.Work/tmp', '.NotAFolder'])
      await mkdir(join(root, d), { recursive: true });
    const lf = Buffer.from('Subject: y\nMessage-ID: <f1@x>\n\nlf only\n');
    await writeFile(join(root, 'new', '1796309605.M935986P12637.vm,S=20,W=23'), lf);
    await writeFile(join(root, '.Work', 'cur', '1000.P1.host:2,S'), lf);
    const source = await openMaildirSource(ctxFor(root));
    expect((await source.listFolders()).map((f) => f.name)).toEqual(['INBOX', 'Work']);
    const [inbox] = (await source.inventory({ name: 'INBOX', delimiter: '/' })).messages;
    expect(inbox).toMatchObject({ id: '1796309605.M935986P12637.vm', size: 23, flags: [] });
    const [work] = (await source.inventory({ name: 'Work', delimiter: '/' })).messages;
    expect(work).toMatchObject({
      id: '1000.P1.host',
      size: lf.length + 4,
      flags: ['\\Seen'],
      messageId: 'f1@x',
    });
    expect(await readAll(source, 'Work', work!.id)).toEqual(lf);
    await source.close();
  });
});
