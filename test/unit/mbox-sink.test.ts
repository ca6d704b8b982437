import {
  appendFile,
  type FileHandle,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { FolderError, LimitError, UsageError } from '../../src/errors.js';
import { readSidecar } from '../../src/formats/mbox/sidecar.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { mapFsError, openMboxSink } from '../../src/stores/mbox/sink.js';
import { openMboxSource } from '../../src/stores/mbox/source.js';
import type { FolderInfo, Sink, Source } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';

const ctxFor = (path: string): EndpointContext => ({
  endpoint: { kind: 'mbox', path },
  log: silentLogger,
  largeMessageBytes: 1 << 20,
});

function message(i: number, extra = ''): Buffer {
  return Buffer.from(`Message-ID: <m${i}@test>\r\nSubject: ${i}\r\n\r\nFrom the body ${i}\r\n${extra}`);
}

async function put(sink: Sink, folder: string, data: Buffer, flags: string[] = [], id = '1') {
  return sink.append({
    folder,
    meta: { id, size: data.length, flags },
    flags,
    internalDate: new Date(Date.UTC(2021, 5, 1, 12)),
    body: Readable.from([data.subarray(0, 7), data.subarray(7)]),
  });
}

async function readAll(source: Source, folder: FolderInfo): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const m of (await source.inventory(folder)).messages) {
    const chunks: Buffer[] = [];
    for await (const c of await source.open(folder, m)) chunks.push(c as Buffer);
    out.push(Buffer.concat(chunks));
  }
  return out;
}

async function files(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(root, join(e.parentPath, e.name)));
  }
  return out.sort();
}

describe('mbox sink', () => {
  let base: string;
  let n = 0;
  const fresh = () => join(base, `t${n++}`);
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mf-sink-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('lays folders out as Name.mbox with children in Name/, names kept in the sidecar', async () => {
    const root = fresh();
    const sink = await openMboxSink(ctxFor(root));
    for (const name of ['INBOX', 'Archive', 'Archive/2002', '../x', 'Entwürfe', 'a.mbox', 'inbox']) {
      await sink.ensureFolder({ name, delimiter: '/' });
    }
    await sink.ensureFolder({ name: 'Sent', delimiter: '/', specialUse: '\\Sent', subscribed: true });
    await put(sink, 'Archive', message(1));
    await put(sink, 'Archive/2002', message(2));
    await sink.close();
    const list = (await files(root)).filter((f) => f.endsWith('.mbox'));
    expect(list).toContain('Archive.mbox');
    expect(list).toContain('Archive/2002.mbox');
    expect(list).toContain('Entwürfe.mbox');
    expect(list).toContain('INBOX.mbox');
    expect(list.every((f) => !f.startsWith('..'))).toBe(true);
    // 'inbox' and 'INBOX' must not share a file on a case-insensitive disk; 'a.mbox' must not be a dir clash.
    expect(new Set(list.map((f) => f.toLowerCase())).size).toBe(list.length);
    expect(list.filter((f) => f.startsWith('a.mbox')).length).toBe(1);
    const again = await openMboxSink(ctxFor(root));
    const folders = await again.listFolders();
    expect(folders.map((f) => f.name).sort()).toEqual(
      ['../x', 'Archive', 'Archive/2002', 'Entwürfe', 'INBOX', 'Sent', 'a.mbox', 'inbox'].sort(),
    );
    expect(folders.find((f) => f.name === 'Sent')).toMatchObject({ specialUse: '\\Sent', subscribed: true });
    expect((await again.inventory('Archive'))?.messages.length).toBe(1);
    expect(await again.inventory('Nope')).toBeUndefined();
    await again.close();
  });

  it('serialises concurrent appends, groups fsyncs, and journals before resolving', async () => {
    const root = fresh();
    const sink = await openMboxSink(ctxFor(root));
    const sidecar = join(root, 'INBOX.mbox.mailferry.jsonl');
    const probe = await open(join(base, 'probe'), 'w');
    const syncs = vi.spyOn(Object.getPrototypeOf(probe) as FileHandle, 'datasync');
    await probe.close();
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const data = message(i, 'x'.repeat(i * 97));
        const r = await put(sink, 'INBOX', data, i % 2 ? ['\\Seen'] : [], String(i));
        // Resolved means journaled: the sidecar already names this message.
        const text = await readFile(sidecar, 'utf8');
        expect(text).toContain(`"id":"${r.id}"`);
        expect(r.sha256).toBe(crlfSha256(data));
        return r;
      }),
    );
    // 40 appends waiting together: a few group commits, not two fsyncs per message.
    expect(syncs.mock.calls.length).toBeLessThan(10);
    syncs.mockRestore();
    expect(new Set(results.map((r) => r.id)).size).toBe(40);
    const lines = (await readFile(sidecar, 'utf8')).trim().split('\n');
    expect(lines.length).toBe(41);
    const inv = (await sink.inventory('INBOX'))!;
    expect(inv.messages.map((m) => m.messageId).sort()).toEqual(
      Array.from({ length: 40 }, (_, i) => `m${i}@test`).sort(),
    );
    const m7 = inv.messages.find((m) => m.messageId === 'm7@test')!;
    expect(m7.flags).toEqual(['\\Seen']);
    expect(m7.size).toBe(message(7, 'x'.repeat(7 * 97)).length);
    expect(m7.internalDate?.toISOString()).toBe('2021-06-01T12:00:00.000Z');
    await sink.setFlags!('INBOX', m7.id, ['\\Seen', '\\Flagged', '$Label1']);
    await sink.close();
    const source = await openMboxSource(ctxFor(root));
    const [folder] = await source.listFolders();
    const back = (await source.inventory(folder!)).messages.find((m) => m.id === m7.id)!;
    expect(back.flags).toEqual(['\\Seen', '\\Flagged', '$Label1']);
    expect(back.sha256).toBe(m7.sha256);
  });

  it('cuts off a message whose body fails half way and keeps going', async () => {
    const root = fresh();
    const sink = await openMboxSink(ctxFor(root));
    await put(sink, 'INBOX', message(1));
    // Shaped like a socket error: it is the source's failure and must reach the caller untouched.
    const reset = Object.assign(new Error('connection reset'), { code: 'ECONNRESET', syscall: 'read' });
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(300_000, 0x61));
        this.destroy(reset);
      },
    });
    await expect(
      sink.append({ folder: 'INBOX', meta: { id: 'b', size: 1, flags: [] }, flags: [], body: broken }),
    ).rejects.toBe(reset);
    await put(sink, 'INBOX', message(3));
    await sink.close();
    const source = await openMboxSource(ctxFor(root));
    const [folder] = await source.listFolders();
    expect(await readAll(source, folder!)).toEqual([message(1), message(3)]);
  });

  it('on open, drops a torn sidecar line and cuts the mbox back to the last journaled message', async () => {
    const root = fresh();
    const sink = await openMboxSink(ctxFor(root));
    await put(sink, 'INBOX', message(1));
    await sink.close();
    const mbox = join(root, 'INBOX.mbox');
    const sidecar = `${mbox}.mailferry.jsonl`;
    const goodSize = (await stat(mbox)).size;
    const goodSidecar = (await stat(sidecar)).size;
    await appendFile(mbox, 'From MAILER-DAEMON Thu Jan  1 00:00:00 2020\nSubject: half');
    await appendFile(sidecar, '{"type":"msg","id":"99","off');
    const reopened = await openMboxSink(ctxFor(root));
    expect((await stat(mbox)).size).toBe(goodSize);
    expect((await stat(sidecar)).size).toBe(goodSidecar);
    await put(reopened, 'INBOX', message(2));
    await reopened.close();
    const source = await openMboxSource(ctxFor(root));
    const [folder] = await source.listFolders();
    expect(await readAll(source, folder!)).toEqual([message(1), message(2)]);
  });

  it('refuses a directory it did not write, a file as the root, and a corrupt sidecar', async () => {
    const root = fresh();
    await mkdir(root);
    await writeFile(join(root, 'INBOX.mbox'), 'From x Thu Jan  1 00:00:00 2020\n\nhi\n');
    const sink = await openMboxSink(ctxFor(root));
    await expect(sink.ensureFolder({ name: 'INBOX', delimiter: '/' })).rejects.toBeInstanceOf(FolderError);
    await sink.close();
    await expect(openMboxSink(ctxFor(join(root, 'INBOX.mbox')))).rejects.toBeInstanceOf(UsageError);
    const other = fresh();
    const s2 = await openMboxSink(ctxFor(other));
    await put(s2, 'INBOX', message(1));
    await s2.close();
    await appendFile(
      join(other, 'INBOX.mbox.mailferry.jsonl'),
      'garbage\n{"type":"flags","id":"0","flags":[]}\n',
    );
    await expect(openMboxSink(ctxFor(other))).rejects.toBeInstanceOf(UsageError);
  });

  it('maps a full disk to a resumable limit', () => {
    const err = Object.assign(new Error('no space'), { code: 'ENOSPC', syscall: 'write' });
    expect(mapFsError(err, 'writing')).toBeInstanceOf(LimitError);
  });
});

describe('mbox source', () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mf-src-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const mbox = (...bodies: string[]) =>
    bodies.map((b, i) => `From x@y Thu Aug 22 12:36:2${i} 2002\n${b}\n`).join('\n');

  it('reads Thunderbird layouts, plain .mbox trees and single files; skips links leaving the root', async () => {
    const root = join(base, 'tb');
    const outside = join(base, 'outside.mbox');
    await mkdir(join(root, 'Inbox.sbd'), { recursive: true });
    await mkdir(join(root, 'Lists'), { recursive: true });
    await writeFile(join(root, 'Inbox'), mbox('X-Mozilla-Status: 0001\nMessage-ID: <a@x>\n\n>From me\nbody'));
    await writeFile(join(root, 'Inbox.msf'), 'index, not mail');
    await writeFile(join(root, 'Inbox.sbd', 'Sub'), mbox('Subject: 1\n\nx', 'Subject: 2\n\ny'));
    await writeFile(join(root, 'Lists', 'dev.mbox'), mbox('Status: RO\n\nz'));
    await writeFile(join(root, 'notes.txt'), 'not mail');
    await writeFile(outside, mbox('Subject: secret\n\nleak'));
    await symlink(outside, join(root, 'Escape.mbox'));
    await symlink(join(root, 'Lists', 'dev.mbox'), join(root, 'Alias.mbox'));
    const source = await openMboxSource(ctxFor(root));
    const folders = await source.listFolders();
    expect(folders.map((f) => f.name)).toEqual(['Alias', 'Escape', 'Inbox', 'Inbox/Sub', 'Lists/dev']);
    const escaped = await source.inventory(folders[1]!);
    expect(escaped.messages).toEqual([]);
    expect(escaped.skipped?.[0]?.reason).toMatch(/outside/);
    const inbox = await source.inventory(folders[2]!);
    expect(inbox.messages[0]).toMatchObject({ messageId: 'a@x', flags: ['\\Seen'] });
    expect(inbox.messages[0]!.internalDate?.toISOString()).toBe('2002-08-22T12:36:20.000Z');
    const [bytes] = await readAll(source, folders[2]!);
    expect(bytes!.toString()).toBe('X-Mozilla-Status: 0001\nMessage-ID: <a@x>\n\nFrom me\nbody\n');
    expect(inbox.messages[0]!.size).toBe(crlfLength(bytes!));
    expect((await readAll(source, folders[3]!)).map(String)).toEqual([
      'Subject: 1\n\nx\n',
      'Subject: 2\n\ny\n',
    ]);
    const single = await openMboxSource(ctxFor(join(root, 'Lists', 'dev.mbox')));
    const [dev] = await single.listFolders();
    expect(dev!.name).toBe('dev');
    expect((await single.inventory(dev!)).messages[0]!.flags).toEqual(['\\Seen']);
    await expect(openMboxSource(ctxFor(join(base, 'missing')))).rejects.toBeInstanceOf(UsageError);
  });

  it('never hands out bytes its sidecar does not cover', async () => {
    const root = join(base, 'tail');
    const sink = await openMboxSink(ctxFor(root));
    await put(sink, 'INBOX', message(1));
    await sink.close();
    await appendFile(join(root, 'INBOX.mbox'), 'From half a message');
    const source = await openMboxSource(ctxFor(root));
    const [folder] = await source.listFolders();
    const inv = await source.inventory(folder!);
    expect(inv.messages.length).toBe(1);
    expect(inv.skipped?.[0]?.reason).toMatch(/after the last recorded message/);
    const state = await readSidecar(join(root, 'INBOX.mbox.mailferry.jsonl'));
    expect(state.messages.length).toBe(1);
  });
});

function crlfLength(b: Buffer): number {
  let bare = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a && b[i - 1] !== 0x0d) bare++;
  return b.length + bare;
}
