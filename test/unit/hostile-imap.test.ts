import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyFrom, hostileDirs } from '../helpers/hostile-run.js';
import { type HostileServer, startHostileImap } from '../helpers/hostile-server.js';

const MiB = 1024 * 1024;
const msg = (i: number) => Buffer.from(`Message-ID: <h${i}@x>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);
const url = (s: HostileServer) => `imap://user@127.0.0.1:${s.port}`;

/** How many times each Message-ID occurs in the mbox sink's INBOX. */
function stored(sink: string): Map<string, number> {
  const file = join(sink, 'INBOX.mbox');
  const out = new Map<string, number>();
  if (!existsSync(file)) return out;
  for (const m of readFileSync(file, 'latin1').matchAll(/^Message-ID: <([^>]+)>/gim)) {
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + 1);
  }
  return out;
}

describe('a hostile IMAP source', () => {
  let server: HostileServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a body FETCH with one UID twice is a folder error, and no message is stored twice', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1), msg(2), msg(3)] },
      misbehave: { duplicateUids: true },
    });
    const d = hostileDirs('dup');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.report!.failed.length).toBeGreaterThan(0);
    expect(res.report!.failed.every((f) => f.code === 'EFOLDER')).toBe(true);
    expect(res.report!.failed[0]!.reason).toMatch(/UID 1 twice/);
    for (const n of stored(d.sink).values()) expect(n).toBe(1);
  });

  it('an inventory that reports one UID twice is a folder error: nothing copied twice, nothing planned wrongly', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1), msg(2), msg(3)] },
      misbehave: { inventoryDuplicateUids: true },
    });
    const d = hostileDirs('invdup');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/UID 1 twice/);
    for (const n of stored(d.sink).values()) expect(n).toBe(1);
  });

  it('a body FETCH with a UID not asked for is a folder error', async () => {
    server = await startHostileImap({ folders: { INBOX: [msg(1), msg(2)] }, misbehave: { extraUid: 77 } });
    const d = hostileDirs('extra');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.report!.failed[0]!.reason).toMatch(/UID 77/);
    expect(stored(d.sink).has('not asked for')).toBe(false);
  });

  it('a 900 MiB literal for a message declared as 154 bytes fails that message only, in bounded memory', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1), { bytes: msg(2), declaredSize: 154, literalBytes: 900 * MiB }, msg(3)] },
    });
    const d = hostileDirs('bigliteral');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.peakMb).toBeLessThan(300);
    expect(res.report!.failed.map((f) => [f.id, f.code])).toEqual([['2', 'EMISMATCH']]);
    expect([...stored(d.sink).keys()].sort()).toEqual(['h1@x', 'h3@x']);
    expect(server.bytesSent()).toBeLessThan(200 * MiB);
  });

  it('a literal a few MiB over its declared size fails that message and spares the rest', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1), { bytes: msg(2), declaredSize: 154, literalBytes: 3 * MiB }, msg(3)] },
    });
    const d = hostileDirs('overliteral');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.report!.failed.map((f) => [f.id, f.code])).toEqual([['2', 'EMISMATCH']]);
    expect([...stored(d.sink).keys()].sort()).toEqual(['h1@x', 'h3@x']);
  });

  it('a server that ignores partial ranges of a 200 MiB message does not get it all into memory', async () => {
    const big = { bytes: msg(9), declaredSize: 200 * MiB };
    server = await startHostileImap({
      folders: { INBOX: [msg(1), big] },
      misbehave: { ignorePartial: true },
    });
    const d = hostileDirs('partial');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.peakMb).toBeLessThan(300);
    expect(res.report!.failed.map((f) => [f.id, f.code])).toEqual([['2', 'EMISMATCH']]);
    expect([...stored(d.sink).keys()]).toEqual(['h1@x']);
  });

  it('an inventory flood far past EXISTS is a folder error in bounded memory', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1)] },
      misbehave: { inventoryFlood: 2_000_000 },
    });
    const d = hostileDirs('flood');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/more messages than/);
    expect(res.peakMb).toBeLessThan(300);
  });

  it('an inventory line of 20 MiB is refused without holding it', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1)] },
      misbehave: { inventoryLineBytes: 20 * MiB },
    });
    const d = hostileDirs('longline');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).not.toBe(0);
    expect(res.peakMb).toBeLessThan(300);
    expect(stored(d.sink).size).toBe(0);
  });
});
