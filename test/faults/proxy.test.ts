import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A loopback server; `onSocket` sees every accepted socket. Closed after the test. */
async function serve(onSocket: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as net.AddressInfo).port;
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ port });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client that collects everything it reads and how the connection ended. */
function connect(port: number) {
  const sock = net.connect({ port, host: '127.0.0.1' });
  const state = { data: Buffer.alloc(0), ended: false, error: undefined as string | undefined };
  sock.on('data', (c: Buffer) => {
    state.data = Buffer.concat([state.data, c]);
  });
  sock.on('end', () => {
    state.ended = true;
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    state.error = e.code;
  });
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  cleanups.push(() => {
    sock.destroy();
  });
  const until = async (pred: () => boolean): Promise<void> => {
    while (!pred()) await new Promise((r) => setTimeout(r, 5));
  };
  const text = () => state.data.toString('latin1');
  return { sock, state, closed, until, text };
}

/** Reads whole lines, records them, answers through `reply` (undefined: no answer). */
function lineServer(reply: (line: string, s: net.Socket) => string | undefined, greeting = '* OK ready\r\n') {
  const lines: string[] = [];
  const port = serve((s) => {
    let buf = '';
    s.write(greeting);
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        lines.push(line);
        const out = reply(line, s);
        if (out !== undefined) s.write(out);
      }
    });
  });
  return { port, lines };
}

const echo = () => serve((s) => s.pipe(s));

describe('FaultProxy pass-through', () => {
  it('forwards 1 MiB both ways byte-exact and counts it', async () => {
    const proxy = await proxyTo(await echo());
    const payload = randomBytes(1024 * 1024);
    const c = connect(proxy.port);
    c.sock.end(payload);
    await c.closed;
    expect(c.state.data.equals(payload)).toBe(true);
    expect(proxy.stats()).toMatchObject({
      connections: 1,
      bytesUp: payload.length,
      bytesDown: payload.length,
      cut: 0,
    });
    expect(proxy.connectionStats()[0]).toMatchObject({ id: 1, bytesUp: payload.length, open: false });
  });

  it('passes TLS through untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [key, cert] = [join(dir, 'k.pem'), join(dir, 'c.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ]),
      { stdio: 'ignore' },
    );
    const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) =>
      s.end('hello over tls'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const proxy = await proxyTo((server.address() as net.AddressInfo).port);
    const sock = tls.connect({ host: '127.0.0.1', port: proxy.port, ca: readFileSync(cert) });
    let got = '';
    sock.on('data', (c: Buffer) => {
      got += c.toString();
    });
    await new Promise<void>((r) => sock.on('close', () => r()));
    expect(sock.authorized).toBe(true);
    expect(got).toBe('hello over tls');
  });

  it('rejects a target outside loopback', async () => {
    await expect(FaultProxy.start({ host: '192.0.2.1', port: 143 })).rejects.toThrow(/loopback/);
  });
});

describe('cutAfter', () => {
  it('cuts the next connection after exactly N server bytes, and only that one', async () => {
    const blob = randomBytes(10_000);
    const proxy = await proxyTo(await serve((s) => s.write(blob)));
    proxy.cutAfter(5000, 'down');
    const first = connect(proxy.port);
    await first.closed;
    expect(first.state.data.equals(blob.subarray(0, 5000))).toBe(true);
    const second = connect(proxy.port);
    await second.until(() => second.state.data.length === blob.length);
    expect(proxy.stats()).toMatchObject({ connections: 2, cut: 1, bytesDown: 15_000 });
    expect(proxy.connectionStats().map((c) => c.cut)).toEqual([true, false]);
  });

  it('cuts client-to-server traffic: the server gets exactly N bytes, the client sees the close', async () => {
    let serverClosed!: () => void;
    const closedAtServer = new Promise<void>((r) => {
      serverClosed = r;
    });
    const rec: Buffer[] = [];
    const target = await serve((s) => {
      s.on('data', (c: Buffer) => rec.push(c));
      s.on('close', () => serverClosed());
    });
    const proxy = await proxyTo(target);
    proxy.cutAfter(3000, 'up');
    const c = connect(proxy.port);
    const payload = randomBytes(10_000);
    c.sock.write(payload);
    await Promise.all([c.closed, closedAtServer]);
    expect(Buffer.concat(rec).equals(payload.subarray(0, 3000))).toBe(true);
    expect(proxy.stats()).toMatchObject({ cut: 1, bytesUp: 3000 });
  });

  it("scope 'all' shares one budget across connections and fires once", async () => {
    const got: number[] = [];
    const proxy = await proxyTo(
      await serve((s) => {
        const i = got.push(0) - 1;
        s.on('data', (c: Buffer) => {
          got[i]! += c.length;
          s.write(c);
        });
      }),
    );
    proxy.cutAfter(1500, 'up', 'all');
    const a = connect(proxy.port);
    a.sock.write(Buffer.alloc(1000, 1));
    await a.until(() => a.state.data.length === 1000);
    const b = connect(proxy.port);
    b.sock.write(Buffer.alloc(1000, 2));
    await b.closed;
    await b.until(() => got[1] === 500);
    a.sock.write(Buffer.alloc(2000, 3));
    await a.until(() => a.state.data.length === 3000);
    expect(got).toEqual([3000, 500]);
    expect(proxy.stats()).toMatchObject({ cut: 1, bytesUp: 3500 });
    expect(proxy.connectionStats().map((c) => c.cut)).toEqual([false, true]);
  });

  it("scope 'each' limits live and new connections, each on its own count", async () => {
    const proxy = await proxyTo(await echo());
    const a = connect(proxy.port);
    a.sock.write('x'.repeat(100));
    await a.until(() => a.state.data.length === 100);
    proxy.cutAfter(50, 'down', 'each');
    const b = connect(proxy.port);
    a.sock.write('y'.repeat(80));
    b.sock.write('z'.repeat(80));
    await Promise.all([a.closed, b.closed]);
    expect([a.state.data.length, b.state.data.length]).toEqual([150, 50]);
    expect(proxy.stats().cut).toBe(2);
  });
});

describe('stall, delay, refuse, drop', () => {
  it('stall holds bytes both ways until it ends', async () => {
    let stallOver = false;
    let seenByServer: boolean | undefined;
    const proxy = await proxyTo(
      await serve((s) =>
        s.on('data', (c: Buffer) => {
          seenByServer ??= stallOver;
          s.write(c);
        }),
      ),
    );
    const c = connect(proxy.port);
    void proxy.stall(150).then(() => {
      stallOver = true;
    });
    c.sock.write('ping');
    await c.until(() => c.state.data.length === 4);
    expect(seenByServer).toBe(true);
    expect(c.text()).toBe('ping');
  });

  it('delay holds each chunk at least the given time, and 0 turns it off', async () => {
    const proxy = await proxyTo(await echo());
    const c = connect(proxy.port);
    proxy.delay(40);
    let elapsed = false;
    setTimeout(() => {
      elapsed = true;
    }, 40);
    c.sock.write('a');
    await c.until(() => c.state.data.length === 1);
    expect(elapsed).toBe(true);
    proxy.delay(0);
    c.sock.write('b');
    await c.until(() => c.state.data.length === 2);
    expect(c.text()).toBe('ab');
  });

  it('refuse closes new connections, reset mode resets them, and clearing accepts again', async () => {
    const proxy = await proxyTo(await echo());
    proxy.refuse(true);
    const closedOne = connect(proxy.port);
    await closedOne.closed;
    expect(closedOne.state).toMatchObject({ ended: true, error: undefined });
    proxy.refuse(true, 'reset');
    const resetOne = connect(proxy.port);
    await resetOne.closed;
    expect(resetOne.state.error).toBe('ECONNRESET');
    proxy.refuse(false);
    const ok = connect(proxy.port);
    ok.sock.write('back');
    await ok.until(() => ok.text() === 'back');
    expect(proxy.stats()).toMatchObject({ refused: 2, connections: 1 });
  });

  it('drop kills live connections at once', async () => {
    const proxy = await proxyTo(await echo());
    const c = connect(proxy.port);
    c.sock.write('hi');
    await c.until(() => c.text() === 'hi');
    proxy.drop('reset');
    await c.closed;
    expect(c.state.error).toBe('ECONNRESET');
    await c.until(() => proxy.stats().open === 0);
    expect(proxy.stats()).toMatchObject({ connections: 1, cut: 1 });
  });
});

describe('line rules', () => {
  const appendOk = (line: string) => `${line.split(' ')[0]} OK APPEND completed\r\n`;

  it('replaces matching server lines exactly `times` times, even when split across chunks', async () => {
    const srv = lineServer((line, s) => {
      const reply = appendOk(line);
      s.write(reply.slice(0, 9));
      setImmediate(() => s.write(reply.slice(9)));
      return undefined;
    });
    const proxy = await proxyTo(await srv.port);
    const rule = proxy.replaceReply(
      /^(\S+) OK APPEND/,
      (l) => `${l.split(' ')[0]} NO [OVERQUOTA] Quota exceeded`,
      2,
    );
    const c = connect(proxy.port);
    for (const tag of ['A1', 'A2', 'A3']) {
      c.sock.write(`${tag} X\r\n`);
      await c.until(() => c.text().includes(`${tag} `));
    }
    await c.until(() => c.text().endsWith('A3 OK APPEND completed\r\n'));
    expect(c.text()).toBe(
      '* OK ready\r\nA1 NO [OVERQUOTA] Quota exceeded\r\nA2 NO [OVERQUOTA] Quota exceeded\r\nA3 OK APPEND completed\r\n',
    );
    expect([rule.hits, rule.remaining]).toEqual([2, 0]);
    expect(proxy.connectionStats()[0]?.replaced).toBe(2);
  });

  it('leaves bytes inside a server literal alone', async () => {
    const body = 'A1 OK APPEND completed\r\n';
    const srv = lineServer((line) => `* 1 FETCH (BODY[] {${body.length}}\r\n${body})\r\n${appendOk(line)}`);
    const proxy = await proxyTo(await srv.port);
    proxy.replaceReply(/OK APPEND/, 'A1 NO replaced', Number.POSITIVE_INFINITY);
    const c = connect(proxy.port);
    c.sock.write('A1 FETCH\r\n');
    await c.until(() => c.text().endsWith('A1 NO replaced\r\n'));
    expect(c.text()).toBe(
      `* OK ready\r\n* 1 FETCH (BODY[] {${body.length}}\r\n${body})\r\nA1 NO replaced\r\n`,
    );
  });
});

/** A tiny IMAP-ish server: APPEND takes a literal ({n} asks for it, {n+} doesn't), anything else is OK. */
function appendServer() {
  const commands: string[] = [];
  const port = serve((s) => {
    let buf = Buffer.alloc(0);
    let cmd = '';
    s.write('* OK ready\r\n');
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.subarray(0, i).toString('latin1');
        const lit = /~?\{(\d+)(\+)?\}$/.exec(line);
        const size = lit ? Number(lit[1]) : 0;
        if (lit && buf.length < i + 2 + size) {
          if (!lit[2] && !cmd.endsWith(line)) s.write('+ go ahead\r\n');
          cmd += cmd.endsWith(line) ? '' : line;
          return;
        }
        cmd += cmd.endsWith(line) ? '' : line;
        if (lit) cmd += `[${buf.subarray(i + 2, i + 2 + size).toString('latin1')}]`;
        buf = buf.subarray(i + 2 + size);
        if (lit) continue;
        commands.push(cmd);
        s.write(`${cmd.split(' ')[0]} OK done\r\n`);
        cmd = '';
      }
    });
  });
  return { port, commands };
}

describe('answerCommand', () => {
  const throttle = (l: string) =>
    `${l.split(' ')[0]} NO [THROTTLED] Request is throttled. Suggested Backoff Time: 200 milliseconds`;

  it('answers a synchronizing APPEND instead of forwarding it', async () => {
    const srv = appendServer();
    const proxy = await proxyTo(await srv.port);
    const rule = proxy.answerCommand(/^\S+ APPEND /, throttle);
    const c = connect(proxy.port);
    await c.until(() => c.text().includes('* OK'));
    c.sock.write('A1 APPEND INBOX {5}\r\n');
    await c.until(() => c.text().includes('A1 NO'));
    c.sock.write('A2 NOOP\r\n');
    await c.until(() => c.text().includes('A2 OK'));
    c.sock.write('A3 APPEND INBOX {5}\r\n');
    await c.until(() => c.text().includes('+ go ahead'));
    c.sock.write('hello\r\n');
    await c.until(() => c.text().includes('A3 OK'));
    expect(srv.commands).toEqual(['A2 NOOP', 'A3 APPEND INBOX {5}[hello]']);
    expect(c.text()).toContain(`${throttle('A1 APPEND')}\r\nA2 OK done\r\n`);
    expect(rule.hits).toBe(1);
  });

  it('swallows a LITERAL+ literal and the rest of the command, so the next command parses', async () => {
    const srv = appendServer();
    const proxy = await proxyTo(await srv.port);
    proxy.answerCommand(/^\S+ APPEND /, throttle, 2);
    const c = connect(proxy.port);
    await c.until(() => c.text().includes('* OK'));
    const fake = 'A9 NOOP\r\nxy';
    c.sock.write(`A1 APPEND INBOX {${fake.length}+}\r\n${fake}\r\nA2 NOOP\r\n`);
    c.sock.write('A3 APPEND INBOX (\\Seen) ~{3+}\r\nabc {4+}\r\nwxyz\r\nA4 NOOP\r\n');
    c.sock.write('A5 APPEND INBOX {3+}\r\nA6 \r\n');
    await c.until(() => c.text().includes('A5 OK'));
    expect(srv.commands).toEqual(['A2 NOOP', 'A4 NOOP', 'A5 APPEND INBOX {3+}[A6 ]']);
    expect(c.text().match(/THROTTLED/g)).toHaveLength(2);
    expect(proxy.connectionStats()[0]?.answered).toBe(2);
  });

  it('answers POP3 commands too, and clearFaults retires the rule', async () => {
    const srv = lineServer((line) => `+OK ${line}\r\n`, '+OK POP3 ready\r\n');
    const proxy = await proxyTo(await srv.port);
    const rule = proxy.answerCommand(/^RETR /, '-ERR [IN-USE] mailbox locked', 5);
    const c = connect(proxy.port);
    await c.until(() => c.text().includes('+OK POP3'));
    c.sock.write('RETR 1\r\n');
    await c.until(() => c.text().includes('-ERR'));
    proxy.clearFaults();
    c.sock.write('RETR 2\r\n');
    await c.until(() => c.text().includes('+OK RETR 2'));
    expect(c.text()).toBe('+OK POP3 ready\r\n-ERR [IN-USE] mailbox locked\r\n+OK RETR 2\r\n');
    expect(srv.lines).toEqual(['RETR 2']);
    expect([rule.hits, rule.remaining]).toEqual([1, 0]);
  });
});

describe('close', () => {
  it('ends every socket and the listener', async () => {
    const proxy = await FaultProxy.start({ port: await echo() });
    const c = connect(proxy.port);
    c.sock.write('x');
    await c.until(() => c.text() === 'x');
    void proxy.stall(60_000);
    c.sock.write('held');
    await proxy.close();
    await c.closed;
    expect(proxy.stats().open).toBe(0);
    const late = connect(proxy.port);
    await late.closed;
    expect(late.state.error).toBe('ECONNREFUSED');
  });
});
