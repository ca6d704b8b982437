import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { UsageError } from '../../src/errors.js';
import { openMboxSink } from '../../src/stores/mbox/sink.js';
import { openMboxSource } from '../../src/stores/mbox/source.js';
import type { Sink } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';

const ctxFor = (path: string): EndpointContext => ({
  endpoint: { kind: 'mbox', path },
  log: silentLogger,
  largeMessageBytes: 1 << 20,
});

const message = (i: number) => Buffer.from(`Message-ID: <f${i}@test>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);

function put(sink: Sink, data: Buffer | Readable, id: string) {
  const body = Buffer.isBuffer(data) ? Readable.from([data]) : data;
  return sink.append({ folder: 'INBOX', meta: { id, size: 1, flags: [] }, flags: [], body });
}

/** The sink's mbox after two messages and a clean close. */
async function written(root: string): Promise<{ mbox: string; sidecar: string }> {
  const sink = await openMboxSink(ctxFor(root));
  await put(sink, message(1), '1');
  await put(sink, message(2), '2');
  await sink.close();
  const mbox = join(root, 'INBOX.mbox');
  return { mbox, sidecar: `${mbox}.mailferry.jsonl` };
}

describe('mbox sink and bytes it did not write', () => {
  let base: string;
  let n = 0;
  const fresh = () => join(base, `t${n++}`);
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mf-foreign-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('refuses, and keeps, a message a mail client appended after a finished run', async () => {
    const { mbox } = await written(fresh());
    await appendFile(mbox, 'From someone@example.com Mon Jan  1 00:00:00 2024\nSubject: mine\n\nkeep me\n\n');
    const before = await readFile(mbox);
    const err = await openMboxSink(ctxFor(join(mbox, '..'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(mbox);
    expect(await readFile(mbox)).toEqual(before);
  });

  it('refuses a sidecar whose last end lies short of the file, and cuts nothing', async () => {
    const { mbox, sidecar } = await written(fresh());
    const lines = (await readFile(sidecar, 'utf8')).trim().split('\n');
    const lied = lines.map((l) => {
      const r = JSON.parse(l);
      return JSON.stringify(r.type === 'msg' ? { ...r, end: Math.min(r.end, 10) } : r);
    });
    await writeFile(sidecar, `${lied.join('\n')}\n`);
    const size = (await stat(mbox)).size;
    await expect(openMboxSink(ctxFor(join(mbox, '..')))).rejects.toBeInstanceOf(UsageError);
    expect((await stat(mbox)).size).toBe(size);
  });

  it('refuses a sidecar whose offsets do not point at From lines', async () => {
    const { mbox, sidecar } = await written(fresh());
    const text = await readFile(sidecar, 'utf8');
    await writeFile(mbox, Buffer.alloc((await stat(mbox)).size, 0x41));
    await expect(openMboxSink(ctxFor(join(mbox, '..')))).rejects.toBeInstanceOf(UsageError);
    expect(await readFile(sidecar, 'utf8')).toBe(text);
  });

  it('still cuts back the bytes of its own write that a kill left unjournaled', async () => {
    const root = fresh();
    const { mbox } = await written(root);
    const good = (await stat(mbox)).size;
    const sink = await openMboxSink(ctxFor(root));
    // 300 KiB arrive (more than one gathered write), then the body never ends: a kill here.
    const hang = new Readable({ read() {} });
    hang.push(Buffer.concat([message(3), Buffer.alloc(300 * 1024, 0x61)]));
    void put(sink, hang, '3').catch(() => undefined);
    for (let i = 0; i < 200 && (await stat(mbox)).size === good; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect((await stat(mbox)).size).toBeGreaterThan(good);
    // The first sink stays as the kill left it: its body never ends, it never runs again.
    const reopened = await openMboxSink(ctxFor(root));
    expect((await stat(mbox)).size).toBe(good);
    await put(reopened, message(4), '4');
    await reopened.close();
    const source = await openMboxSource(ctxFor(root));
    const [folder] = await source.listFolders();
    expect((await source.inventory(folder!)).messages).toHaveLength(3);
  });
});
