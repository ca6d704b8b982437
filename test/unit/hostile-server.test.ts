import net from 'node:net';
import { ImapFlow } from 'imapflow';
import { describe, expect, it } from 'vitest';
import { startHostileImap, startHostilePop3 } from '../helpers/hostile-server.js';

const msgs = [1, 2, 3].map((i) =>
  Buffer.from(`Message-ID: <m${i}@x>\r\nSubject: s${i}\r\n\r\nbody ${i}\r\n`),
);

async function client(port: number): Promise<ImapFlow> {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    auth: { user: 'user', pass: 'secret' },
    logger: false,
  });
  await c.connect();
  return c;
}

/** Send POP3 lines one by one and collect everything the server says until it closes. */
function pop3Talk(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
    });
    s.on('connect', () => s.write(lines.map((l) => `${l}\r\n`).join('')));
    s.on('close', () => resolve(out));
  });
}

describe('hostile test server', () => {
  it('serves IMAP folders and messages like a plain server', async () => {
    const server = await startHostileImap({ folders: { INBOX: msgs } });
    const c = await client(server.port);
    const list = await c.list();
    expect(list.map((f) => f.path)).toEqual(['INBOX']);
    await c.mailboxOpen('INBOX', { readOnly: true });
    const got: Buffer[] = [];
    for await (const m of c.fetch('1:*', { uid: true, source: true }, { uid: true })) got.push(m.source!);
    expect(got).toEqual(msgs);
    await c.logout();
    await server.close();
  });

  it('answers a body FETCH with duplicate UIDs when told to', async () => {
    const server = await startHostileImap({ folders: { INBOX: msgs }, misbehave: { duplicateUids: true } });
    const c = await client(server.port);
    await c.mailboxOpen('INBOX', { readOnly: true });
    const uids: number[] = [];
    for await (const m of c.fetch('1:3', { uid: true, source: true }, { uid: true })) uids.push(m.uid);
    expect(uids).toEqual([1, 1, 1]);
    await c.logout();
    await server.close();
  });

  it('floods POP3 LIST and refuses a wrong password', async () => {
    const server = await startHostilePop3({ messages: msgs, misbehave: { listFlood: 5 } });
    const out = await pop3Talk(server.port, ['USER user', 'PASS secret', 'LIST', 'QUIT']);
    expect(out.split('\r\n').filter((l) => /^\d+ \d+$/.test(l))).toHaveLength(8);
    const bad = await pop3Talk(server.port, ['USER user', 'PASS nope', 'QUIT']);
    expect(bad).toContain('-ERR');
    await server.close();
  });
});
