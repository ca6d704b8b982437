import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pop3Client } from '../../src/pop3/client.js';
import { silentLogger } from '../../src/util/log.js';
import { copyFrom, hostileDirs } from '../helpers/hostile-run.js';
import { type HostileServer, startHostilePop3 } from '../helpers/hostile-server.js';

const MiB = 1024 * 1024;
const msg = (i: number) => Buffer.from(`Message-ID: <p${i}@x>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);
const url = (s: HostileServer) => `pop3://user@127.0.0.1:${s.port}`;

function storedIds(sink: string): string[] {
  const file = join(sink, 'INBOX.mbox');
  if (!existsSync(file)) return [];
  return [...readFileSync(file, 'latin1').matchAll(/^Message-ID: <([^>]+)>/gim)].map((m) => m[1]!).sort();
}

describe('a hostile POP3 source', () => {
  let server: HostileServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a LIST/UIDL flood of 20 million lines fails the folder in bounded memory', async () => {
    server = await startHostilePop3({ messages: [msg(1)], misbehave: { listFlood: 20_000_000 } });
    const d = hostileDirs('pop3flood');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.lastError).toMatch(/sent more than \d+ bytes in reply to (UIDL|LIST)/);
    expect(res.peakMb).toBeLessThan(300);
    expect(server.bytesSent()).toBeLessThan(100 * MiB);
  });

  it('one listing line of 900 MiB fails the folder in bounded memory', async () => {
    server = await startHostilePop3({ messages: [msg(1)], misbehave: { longLineBytes: 900 * MiB } });
    const d = hostileDirs('pop3line');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.peakMb).toBeLessThan(300);
  });

  it('a RETR of 900 MiB for a message LISTed as 154 bytes fails that message only', async () => {
    server = await startHostilePop3({
      messages: [msg(1), msg(2)],
      onCommand: async (io) => {
        if (io.verb !== 'RETR' || io.args !== '2') return false;
        await io.write('+OK\r\n');
        await io.writeFiller(900 * MiB);
        await io.write('.\r\n');
        return true;
      },
    });
    const d = hostileDirs('pop3retr');
    const res = await copyFrom(url(server), `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(1);
    expect(res.peakMb).toBeLessThan(300);
    expect(res.report!.failed.map((f) => [f.id, f.code])).toEqual([['uid-2', 'EMISMATCH']]);
    expect(storedIds(d.sink)).toEqual(['p1@x']);
    expect(server.bytesSent()).toBeLessThan(200 * MiB);
  });

  it('a TOP far past the LIST size fails instead of being held', async () => {
    server = await startHostilePop3({ messages: [msg(1)], misbehave: { topBytes: 50 * MiB } });
    const client = await Pop3Client.connect({
      server: {
        endpoint: {
          kind: 'pop3',
          protocol: 'pop3',
          host: '127.0.0.1',
          port: server.port,
          secure: false,
          user: 'user',
        },
        auth: async () => ({ method: 'password', user: 'user', secret: 'secret' }),
        tls: { insecure: false },
        allowPlaintext: true,
        timeoutMs: 10_000,
      },
      log: silentLogger,
    });
    const err = await client.top(1, 0, 64 * 1024).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/sent more than 65536 bytes in reply to TOP 1 0/);
    await client.close();
  });
});
