import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEndpoint } from '../../src/endpoint.js';
import { ConnectionError, MailferryError, MessageError } from '../../src/errors.js';
import { Pop3Client, type Pop3ClientOptions } from '../../src/pop3/client.js';
import { DotDecoder } from '../../src/pop3/dot.js';
import { openPop3Source } from '../../src/stores/pop3/source.js';
import { silentLogger } from '../../src/util/log.js';
import type { AuthSecret, ServerOptions } from '../../src/util/net.js';
import { type FakePop3, type FakePop3Options, startFakePop3, stuff } from './pop3-fake-server.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const withCrlf = (m: Buffer) => (m.subarray(-2).toString() === '\r\n' ? m : Buffer.concat([m, b('\r\n')]));
const binary = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37 + 11) % 256));

/** Messages that trip naive POP3 clients: dot lines, "..", 8-bit, no final newline, binary bytes. */
const TRICKY: Buffer[] = [
  b('Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.x\r\nend\r\n'),
  b('Subject: latin1 \xe9\xe8\xff\r\n\r\nbody \x00\x01\x80\xfe\r\n'),
  b('Subject: no final newline\r\n\r\nlast line'),
  b('Subject: bare lf\r\n\r\na\n.\nb\n'),
  b('Subject: cr-dot\r\n\r\n.\rx\r\n.\r\r\n\r\n.'),
  Buffer.concat([b('Subject: binary\r\n\r\n'), binary, b('\r\n.\r\n')]),
  b('.starts with dot\r\n\r\n.'),
];

const servers: FakePop3[] = [];
const unexpected: unknown[] = [];
const onUnexpected = (e: unknown) => unexpected.push(e);
let tlsKeys: { key: string; cert: string };
let tmp: string;

beforeAll(() => {
  process.on('unhandledRejection', onUnexpected);
  process.on('uncaughtException', onUnexpected);
  tmp = mkdtempSync(join(tmpdir(), 'pop3-test-'));
  const req = 'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost';
  const san = ['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'];
  const files = ['-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem')];
  execFileSync('openssl', [...req.split(' '), ...san, ...files], { stdio: 'ignore' });
  tlsKeys = {
    key: readFileSync(join(tmp, 'key.pem'), 'utf8'),
    cert: readFileSync(join(tmp, 'cert.pem'), 'utf8'),
  };
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  expect(unexpected).toEqual([]);
});

afterAll(() => {
  process.off('unhandledRejection', onUnexpected);
  process.off('uncaughtException', onUnexpected);
  rmSync(tmp, { recursive: true, force: true });
});

async function fake(opts: Partial<FakePop3Options> = {}): Promise<FakePop3> {
  const s = await startFakePop3({ messages: TRICKY, ...opts });
  servers.push(s);
  return s;
}

function serverOptions(
  port: number,
  over: { secret?: AuthSecret; secure?: boolean; timeoutMs?: number } = {},
) {
  const endpoint: ServerEndpoint = {
    kind: 'pop3',
    protocol: over.secure ? 'pop3s' : 'pop3',
    secure: over.secure ?? false,
    host: '127.0.0.1',
    port,
    user: over.secret?.user ?? 'demo',
  };
  const secret: AuthSecret = over.secret ?? { method: 'password', user: 'demo', secret: 'secret' };
  const server: ServerOptions = {
    endpoint,
    auth: async () => secret,
    tls: { ca: [tlsKeys.cert], insecure: false },
    allowPlaintext: false,
    timeoutMs: over.timeoutMs ?? 5000,
  };
  return server;
}

async function connect(
  s: FakePop3,
  over: Parameters<typeof serverOptions>[1] & Partial<Pop3ClientOptions> = {},
) {
  return Pop3Client.connect({ server: serverOptions(s.port, over), ...over });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function failureOf(p: Promise<unknown>): Promise<MailferryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MailferryError);
  return err as MailferryError;
}

describe('DotDecoder', () => {
  const decodeInPieces = (wire: Buffer, cuts: number[]) => {
    const dec = new DotDecoder();
    const out: Buffer[] = [];
    let start = 0;
    for (const cut of [...cuts, wire.length]) {
      const chunk = wire.subarray(start, cut);
      start = cut;
      const end = dec.decode(chunk, 0, (x) => out.push(Buffer.from(x)));
      if (end >= 0)
        return { body: Buffer.concat(out), rest: Buffer.concat([chunk.subarray(end), wire.subarray(cut)]) };
    }
    return { body: Buffer.concat(out), rest: undefined };
  };

  it('decodes every tricky message split at every single position', () => {
    for (const msg of TRICKY) {
      const wire = Buffer.concat([stuff(msg), b('+OK next')]);
      for (let cut = 1; cut < wire.length; cut++) {
        const r = decodeInPieces(wire, [cut]);
        expect(r.body.equals(withCrlf(msg)), `cut at ${cut}`).toBe(true);
        expect(r.rest?.toString()).toBe('+OK next');
      }
    }
  });

  it('decodes byte by byte and with a closing dot split twice', () => {
    const msg = TRICKY[0]!;
    const wire = Buffer.concat([stuff(msg), b('X')]);
    expect(decodeInPieces(wire, [...wire.keys()].slice(1)).body.equals(msg)).toBe(true);
    for (let i = wire.length - 6; i < wire.length - 1; i++) {
      for (let j = i + 1; j < wire.length; j++)
        expect(decodeInPieces(wire, [i, j]).body.equals(msg)).toBe(true);
    }
  });

  it('does not end at "\\n.\\n" or ".\\r" without LF', () => {
    const r = decodeInPieces(b('a\n.\nb\r\n.\rc\r\n.\r\n'), []);
    expect(r.body.toString('latin1')).toBe('a\n.\nb\r\n\rc\r\n');
  });
});

describe('Pop3Client RETR', () => {
  it('streams every message byte-exactly, ending with its CRLF', async () => {
    const s = await fake();
    const c = await connect(s);
    const uidl = await c.uidl();
    expect(uidl.map((u) => u.uid)).toEqual(TRICKY.map((_, i) => `uid-${i + 1}`));
    for (const [i, msg] of TRICKY.entries())
      expect((await readAll(await c.retr(i + 1))).equals(withCrlf(msg))).toBe(true);
    await c.close();
  });

  it('survives replies written one byte at a time', async () => {
    const s = await fake({ split: (r) => [...r].map((x) => Buffer.from([x])) });
    const c = await connect(s);
    for (const n of [1, 5])
      expect((await readAll(await c.retr(n))).equals(withCrlf(TRICKY[n - 1]!))).toBe(true);
    await c.close();
  });

  it('finds the closing dot split at every position', async () => {
    for (let back = 1; back <= 6; back++) {
      const s = await fake({
        split: (r, cmd) => (cmd === 'RETR' ? [r.subarray(0, -back), r.subarray(-back)] : [r]),
        splitDelayMs: 20,
      });
      let chunks = 0;
      const c = await connect(s, { onBytes: () => chunks++ });
      const before = chunks;
      expect((await readAll(await c.retr(1))).equals(TRICKY[0]!), `split ${back} from the end`).toBe(true);
      // The split really reached the client as two reads, not one merged chunk.
      expect(chunks - before).toBe(2);
      await c.noop();
      await c.close();
    }
  });

  it('keeps the protocol in step when the consumer drops a stream half way', async () => {
    const big = Buffer.concat([b('Subject: big\r\n\r\n'), Buffer.alloc(2_000_000, 'x'), b('\r\n')]);
    const s = await fake({ messages: [big, TRICKY[0]!] });
    const c = await connect(s);
    const first = await c.retr(1);
    first.destroy();
    expect((await readAll(await c.retr(2))).equals(TRICKY[0]!)).toBe(true);
    await c.close();
  });

  it('pauses the socket for a slow consumer instead of buffering the message', async () => {
    const big = Buffer.concat([b('Subject: big\r\n\r\n'), Buffer.alloc(20_000_000, '.'), b('\r\n')]);
    const s = await fake({ messages: [big] });
    const c = await connect(s);
    const stream = await c.retr(1);
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 2));
    expect(stream.readableLength).toBeLessThan(1_000_000);
    expect((await readAll(stream)).equals(big)).toBe(true);
    await c.close();
  });
});

describe('Pop3Client faults', () => {
  it.each(['reset', 'close'] as const)(
    'turns a %s during RETR into a typed error on the stream and pending commands',
    async (how) => {
      const s = await fake({ retrFault: { after: 40, how } });
      const c = await connect(s);
      const stream = await c.retr(6);
      const noop = c.noop();
      const err = await failureOf(readAll(stream));
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.code).toBe(how === 'reset' ? 'ECONNRESET' : 'ECLOSED');
      expect(err.retryable).toBe(true);
      expect((await failureOf(noop)).code).toBe(err.code);
      expect((await failureOf(c.stat())).code).toBe(err.code);
      await c.close();
    },
  );

  it('times out a stalled reply with ETIMEDOUT', async () => {
    const s = await fake({ stall: 'STAT' });
    const c = await connect(s, { timeoutMs: 200 });
    const err = await failureOf(c.stat());
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.retryable).toBe(true);
  });

  it('rejects malformed status lines with EPROTOCOL', async () => {
    const s = await fake({ malformed: { STAT: 'OK 7 100', UIDL: '+OKAY' } });
    const c = await connect(s);
    expect((await failureOf(c.stat())).code).toBe('EPROTOCOL');
    const s2 = await fake({ greeting: 'x', malformed: { CAPA: '* hello' } });
    expect((await failureOf(connect(s2))).code).toBe('EPROTOCOL');
  });
});

describe('Pop3Client login', () => {
  it('never puts the password in the error, even when the server echoes it', async () => {
    const s = await fake({ password: 'right', echoPasswordOnFail: true, capa: ['UIDL', 'USER'] });
    const err = await failureOf(
      connect(s, { secret: { method: 'password', user: 'demo', secret: 'wrong-pw' } }),
    );
    expect(err.code).toBe('EAUTH');
    expect(err.message).not.toContain('wrong-pw');
    expect(s.commands).toContain('PASS wrong-pw');
  });

  it('sends the XOAUTH2 SASL string and reports a rejected token as EAUTH', async () => {
    const s = await fake({ token: 'tok-123' });
    const c = await connect(s, { secret: { method: 'xoauth2', user: 'demo', secret: 'tok-123' } });
    expect(s.sasl).toEqual(['user=demo\x01auth=Bearer tok-123\x01\x01']);
    expect(s.commands).toContain('AUTH XOAUTH2');
    await c.close();
    const err = await failureOf(connect(s, { secret: { method: 'xoauth2', user: 'demo', secret: 'old' } }));
    expect(err.code).toBe('EAUTH');
    expect(err.message).not.toContain('old');
  });

  it('picks AUTH PLAIN, USER/PASS or APOP from CAPA and the greeting', async () => {
    const plain = await fake();
    await (await connect(plain)).close();
    expect(plain.sasl).toEqual(['\0demo\0secret']);
    const user = await fake({ capa: ['UIDL', 'USER'] });
    await (await connect(user)).close();
    expect(user.commands.slice(1, 3)).toEqual(['USER demo', 'PASS secret']);
    const apop = await fake({ capa: ['UIDL'] });
    await (await connect(apop)).close();
    expect(apop.commands[1]).toMatch(/^APOP demo [0-9a-f]{32}$/);
  });

  it('upgrades with STLS before sending the password, and speaks pop3s', async () => {
    const s = await fake({ stls: tlsKeys, capa: ['UIDL', 'USER'] });
    const c = await connect(s);
    expect(c.tlsActive).toBe(true);
    expect(s.commands.slice(0, 4)).toEqual(['CAPA', 'STLS', 'CAPA', 'USER demo']);
    expect((await readAll(await c.retr(1))).equals(TRICKY[0]!)).toBe(true);
    await c.close();
    const s2 = await fake({ implicitTls: tlsKeys });
    const c2 = await connect(s2, { secure: true });
    expect((await c2.stat()).count).toBe(TRICKY.length);
    await c2.close();
  });

  it('refuses an untrusted certificate with ECERT', async () => {
    const s = await fake({ implicitTls: tlsKeys });
    const server = serverOptions(s.port, { secure: true });
    server.tls = { insecure: false };
    expect((await failureOf(Pop3Client.connect({ server }))).code).toBe('ECERT');
  });
});

describe('Pop3Client pipelining', () => {
  it('sends DELE and TOP batches in one go only when PIPELINING is offered', async () => {
    for (const pipelining of [true, false]) {
      const s = await fake({ pipelining });
      const c = await connect(s);
      expect(c.pipelining).toBe(pipelining);
      const heads = await Promise.all([1, 2, 3].map((n) => c.top(n)));
      expect(heads[1]!.toString('latin1')).toBe('Subject: latin1 \xe9\xe8\xff\r\n\r\n');
      await c.deleMany([1, 2, 3]);
      const most = Math.max(...s.linesPerChunk);
      if (pipelining) expect(most).toBeGreaterThanOrEqual(3);
      else expect(most).toBe(1);
      await c.close();
      expect(s.deleted).toEqual(['uid-1', 'uid-2', 'uid-3']);
    }
  });
});

describe('POP3 source adapter', () => {
  const HEADERS = [
    b(
      'Received: from a by b; Tue, 01 Jul 2003 10:52:37 +0200\r\nReceived: from x; Mon, 1 Jan 2001 00:00:00 +0000\r\nMessage-ID: <one@x>\r\nDate: Fri, 1 Jan 1999 00:00:00 +0000\r\n\r\nbody\r\n',
    ),
    b('Message-ID:\r\n <two@x> (comment)\r\nDate: Sat, 2 Jan 1999 03:04:05 -0100 (XYZ)\r\n\r\n.body\r\n'),
    b('Subject: none\r\n\r\nbody\r\n'),
  ];

  async function source(s: FakePop3) {
    const server = serverOptions(s.port);
    return openPop3Source({
      endpoint: server.endpoint,
      server,
      log: silentLogger,
      largeMessageBytes: 1 << 20,
    });
  }

  it('inventories, identifies and opens by UIDL', async () => {
    const s = await fake({ messages: HEADERS, uids: ['a', 'b', 'c'] });
    const src = await source(s);
    const inbox = (await src.listFolders())[0]!;
    const inv = await src.inventory(inbox);
    expect(inv.messages.map((m) => [m.id, m.size])).toEqual(HEADERS.map((h, i) => ['abc'[i], h.length]));
    await src.identify!(inbox, inv.messages);
    const [one, two, three] = inv.messages;
    expect([one?.messageId, two?.messageId, three?.messageId]).toEqual(['one@x', 'two@x', undefined]);
    expect(one?.internalDate?.toISOString()).toBe('2003-07-01T08:52:37.000Z');
    expect(two?.internalDate?.toISOString()).toBe('1999-01-02T04:04:05.000Z');
    expect(three?.internalDate).toBeUndefined();
    expect((await readAll(await src.open(inbox, two!))).equals(HEADERS[1]!)).toBe(true);
    const gone = await failureOf(src.open(inbox, { id: 'zzz', size: 1, flags: [] }));
    expect(gone).toBeInstanceOf(MessageError);
    expect(gone.code).toBe('EGONE');
    expect(await src.stat!()).toEqual([
      { folder: inbox, messages: 3, bytes: HEADERS.reduce((n, h) => n + h.length, 0) },
    ]);
    await src.close();
  });

  it('open() returns the identity it read on its body and leaves the message it was given unchanged', async () => {
    const s = await fake({ messages: HEADERS, uids: ['a', 'b', 'c'] });
    const src = await source(s);
    const inbox = (await src.listFolders())[0]!;
    const [, two, three] = (await src.inventory(inbox)).messages;
    const given = { ...two! };
    const body = await src.open(inbox, two!);
    expect(two).toEqual(given);
    expect(body.learned).toEqual({ messageId: 'two@x', internalDate: new Date('1999-01-02T04:04:05.000Z') });
    expect((await readAll(body)).equals(HEADERS[1]!)).toBe(true);
    const none = await src.open(inbox, three!);
    expect(none.learned).toEqual({ messageId: undefined, internalDate: undefined });
    await readAll(none);
    await src.close();
  });

  it('returns every stored byte, dropping only the CRLF a server adds to an unterminated last line', async () => {
    const s = await fake();
    const src = await source(s);
    const inbox = (await src.listFolders())[0]!;
    const inv = await src.inventory(inbox);
    for (const [i, m] of inv.messages.entries()) {
      expect((await readAll(await src.open(inbox, m))).equals(TRICKY[i]!), `message ${i}`).toBe(true);
    }
    await src.close();
  });

  it('deletes only the messages passed, committing at QUIT', async () => {
    const s = await fake({ messages: HEADERS, uids: ['a', 'b', 'c'] });
    const src = await source(s);
    const inbox = (await src.listFolders())[0]!;
    const inv = await src.inventory(inbox);
    await src.delete!(inbox, [inv.messages[2]!]);
    expect(s.commands.filter((l) => l.startsWith('DELE'))).toEqual(['DELE 3']);
    expect(s.deleted).toEqual(['c']);
    expect((await src.inventory(inbox)).messages.map((m) => m.id)).toEqual(['a', 'b']);
    await src.close();
    await src.close();
    expect(s.deleted).toEqual(['c']);
  });
});
