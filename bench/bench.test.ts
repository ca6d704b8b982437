import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encodeMutf7 } from '../test/rig/seed.js';
import { measure, median, parseTime } from './measure.js';
import { countMaildir, getmailSpec, mbsyncImapSpec, mbsyncSpec, mpopSpec } from './peers.js';
import { selfTimes, top } from './profile.js';
import { encodeMailbox, imapDate, rawAppend } from './raw-append.js';
import { realisticFolders, realisticMessage, smallMessage } from './realistic.js';
import { evaluateTargets, type Summary } from './report.js';
import { scaledFolders, spread } from './setup.js';

interface FakeImap {
  port: number;
  appended: Array<{ line: string; body: Buffer }>;
  /** Literal bytes that arrived before the server said '+' (a synchronising-literal violation). */
  early: number;
  close(): Promise<void>;
}

/** Just enough IMAP for raw-append: LOGIN, CREATE, APPEND (sync or LITERAL+), LOGOUT. */
function fakeImap(literalPlus: boolean): Promise<FakeImap> {
  const state: Omit<FakeImap, 'port' | 'close'> = { appended: [], early: 0 };
  const caps = `IMAP4rev1${literalPlus ? ' LITERAL+' : ''}`;
  const serve = (sock: Socket) => {
    let buf = Buffer.alloc(0);
    let literal: { tag: string; line: string; size: number } | undefined;
    sock.write(`* OK [CAPABILITY ${caps}] fake ready\r\n`);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (literal) {
          if (buf.length < literal.size + 2) return;
          state.appended.push({ line: literal.line, body: buf.subarray(0, literal.size) });
          sock.write(`${literal.tag} OK [APPENDUID 1 ${state.appended.length}] done\r\n`);
          buf = buf.subarray(literal.size + 2);
          literal = undefined;
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.subarray(0, eol).toString('latin1');
        buf = buf.subarray(eol + 2);
        const [tag, verb] = line.split(' ');
        const lit = /\{(\d+)(\+?)\}$/.exec(line);
        if (lit) {
          literal = { tag: tag!, line, size: Number(lit[1]) };
          if (!lit[2]) {
            state.early += buf.length;
            sock.write('+ go ahead\r\n');
          }
        } else if (verb === 'LOGIN') sock.write(`${tag} OK [CAPABILITY ${caps}] logged in\r\n`);
        else if (verb === 'LOGOUT') sock.end(`* BYE\r\n${tag} OK bye\r\n`);
        else sock.write(`${tag} OK done\r\n`);
      }
    });
  };
  return new Promise((resolve) => {
    const server: Server = createServer(serve);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve(Object.assign(state, { port, close: () => new Promise<void>((r) => server.close(() => r())) }));
    });
  });
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mfbench-test-'));
  dirs.push(d);
  return d;
}

function messages(dir: string, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const file = join(dir, `${i}.eml`);
    writeFileSync(file, `Subject: m${i}\r\nMessage-ID: <${i}@x>\r\n\r\n${'body '.repeat(i * 50)}\r\n`);
    return {
      folder: i % 2 ? 'INBOX' : 'Entwürfe',
      file,
      flags: ['\\Seen'],
      internalDate: '2002-09-03T08:15:00Z',
    };
  });
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

let fake: FakeImap | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('raw-append', () => {
  for (const plus of [true, false]) {
    it(`appends every message byte for byte ${plus ? 'with LITERAL+' : 'waiting for +'}`, async () => {
      fake = await fakeImap(plus);
      const entries = messages(tempDir(), 12);
      const r = await rawAppend({ host: '127.0.0.1', port: fake.port, user: 'u', password: 'p"w', entries });
      expect(r).toMatchObject({ appended: 12, failed: 0, literalPlus: plus });
      expect(fake.appended.map((a) => a.body.toString())).toEqual(
        entries.map((e) => readFileSync(e.file, 'utf8')),
      );
      expect(fake.appended[0]!.line).toContain('APPEND "Entw&APw-rfe" (\\Seen) "03-Sep-2002 08:15:00 +0000"');
      expect(fake.early).toBe(0);
    });
  }

  it('encodes mailbox names as the rig stores them', () => {
    for (const name of ['INBOX', 'Entwürfe', 'A&B', '日本語/Sub'])
      expect(encodeMailbox(name)).toBe(encodeMutf7(name));
    expect(imapDate('2024-01-05T03:04:05.000Z')).toBe('05-Jan-2024 03:04:05 +0000');
  });
});

describe('measure', () => {
  it('reports the exit code, output and the summed peak RSS of the whole process tree', async () => {
    // Two children of 90 MB each at the same time: only a tree sum exceeds 170 MB.
    const grow = 'const b = Buffer.alloc(90 * 1024 * 1024, 1); setTimeout(() => console.log(b[5]), 800)';
    const spawnTwo = `const { spawn } = require('child_process');
      let left = 2;
      for (let i = 0; i < 2; i++) spawn(process.execPath, ['-e', ${JSON.stringify(grow)}], { stdio: 'inherit' })
        .on('exit', () => { if (--left === 0) process.exit(3); });`;
    const m = await measure({ cmd: process.execPath, args: ['-e', spawnTwo] });
    expect(m.code).toBe(3);
    expect(m.stdout.trim().split('\n')).toEqual(['1', '1']);
    expect(m.peakRssMb).toBeGreaterThan(170);
  });

  it('kills a run that outlives its timeout', async () => {
    const m = await measure({
      cmd: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      timeoutMs: 300,
    });
    expect(m.timedOut).toBe(true);
    expect(m.code).not.toBe(0);
  });

  it('takes the median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('peers', () => {
  const src = { host: '127.0.0.1', port: 1143, user: 'bench', password: 's3cret-pw' };
  it('keeps passwords in 0600 config files, never on the command line; TLS verified with the CA', () => {
    const imapToImap = (a: typeof src, dir: string, ca: string) =>
      mbsyncImapSpec(a, { ...a, user: 'dst', password: 'dst-pw-2' }, dir, ca);
    for (const make of [mbsyncSpec, imapToImap, mpopSpec, getmailSpec]) {
      const dir = tempDir();
      const spec = make(src, dir, '/rig/ca.pem');
      expect(spec.args.join(' ')).not.toContain(src.password);
      const rc = spec.args.find((a) => a.endsWith('rc')) ?? join(dir, 'getmail', 'getmailrc');
      const file = rc.startsWith('/') ? rc : join(dir, 'getmail', rc);
      expect(readFileSync(file, 'utf8')).toContain(src.password);
      expect(readFileSync(file, 'utf8')).toContain('/rig/ca.pem');
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
  });

  it('counts Maildir messages in cur/ and new/ only', () => {
    const dir = tempDir();
    for (const sub of ['INBOX/cur', 'INBOX/new', 'INBOX/tmp', 'Sent/cur'])
      mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, 'INBOX/cur/a'), 'abc');
    writeFileSync(join(dir, 'INBOX/new/b'), 'de');
    writeFileSync(join(dir, 'INBOX/tmp/c'), 'half-written');
    writeFileSync(join(dir, 'Sent/cur/d'), 'f');
    expect(countMaildir(dir)).toEqual({ messages: 3, bytes: 6 });
  });
});

describe('seeding plan', () => {
  it('scales the default folders to N and wraps around the corpus', () => {
    const sum = (f: Array<{ count: number }>) => f.reduce((s, x) => s + x.count, 0);
    expect(sum(scaledFolders(2000))).toBe(2000);
    const big = scaledFolders(10_000);
    expect(sum(big)).toBe(10_000);
    for (const seg of big) expect(seg.offset! + seg.count).toBeLessThanOrEqual(6046);
    expect(spread([{ name: 'INBOX', count: 100 }], 6000)).toEqual([
      { name: 'INBOX', count: 46, offset: 6000 },
      { name: 'INBOX', count: 54, offset: 0 },
    ]);
  });
});

describe('targets', () => {
  const row = (job: string, tool: string, rate: number, extra: Partial<Summary> = {}): Summary => ({
    corpus: 'realistic',
    job,
    title: job,
    tool,
    mailferry: tool.startsWith('mailferry'),
    okRounds: 3,
    noopFailures: 0,
    messagesPerSecond: rate,
    errors: [],
    ...extra,
  });

  it('compares mailferry with each peer of the same corpus and marks misses', () => {
    const all = [
      row('pop3-mbox', 'mailferry → mbox', 500, { noopSeconds: 0.3, peakRssMb: 80, cpuPer100Mb: 4 }),
      row('pop3-mbox', 'mpop → Maildir', 400, { cpuPer100Mb: 1 }),
      row('imap-imap', 'mailferry', 80, { noopSeconds: 0.7, peakRssMb: 120 }),
      row('imap-imap', 'mbsync IMAP→IMAP', 40),
      row('imap-imap', 'raw APPEND', 100),
      // Another corpus's peer must not count.
      row('imap-imap', 'mbsync IMAP→IMAP', 10, { corpus: 'spamassassin' }),
    ];
    const t = Object.fromEntries(evaluateTargets(all, 10_000).map((x) => [x.label, x]));
    expect(t['realistic: POP3→mbox ≥ 1.0× mpop']?.verdict).toBe('PASS');
    expect(t['realistic: POP3→mbox CPU/100 MB ≤ 3× mpop']).toMatchObject({ verdict: 'MISS' });
    expect(t['realistic: IMAP→IMAP ≥ 2.5× imapsync (stand-in: mbsync IMAP→IMAP)']).toMatchObject({
      verdict: 'MISS',
      detail: '2.00× (0.80× raw APPEND)',
    });
    expect(t['realistic: no-op re-run ≤ 0.5 s: imap-imap mailferry']?.verdict).toBe('MISS');
    expect(t['realistic: no-op re-run ≤ 0.5 s: pop3-mbox mailferry → mbox']?.verdict).toBe('PASS');
    expect(t['realistic: peak RSS ≤ 100 MB (every mailferry run)']).toMatchObject({
      verdict: 'MISS',
      detail: '120 MB (imap-imap mailferry)',
    });
  });

  it('judges the one big folder by its own 120 MB limit', () => {
    const big = row('imap-big', 'mailferry → mbox', 300, {
      corpus: 'small',
      messages: 100_000,
      peakRssMb: 110,
    });
    const t = evaluateTargets([big], 10_000);
    expect(t).toEqual([
      { label: '100,000 small messages in one folder: peak RSS ≤ 120 MB', verdict: 'PASS', detail: '110 MB' },
    ]);
  });

  it('says n/a when a side has no successful round', () => {
    const all = [
      row('imap-file', 'mailferry → mbox', 0, { messagesPerSecond: undefined }),
      row('imap-file', 'mbsync → Maildir', 9),
    ];
    expect(evaluateTargets(all, 2000)[0]).toMatchObject({ verdict: 'n/a' });
  });

  it('misses the no-op target when a re-run copies again', () => {
    const s = row('pop3-imap', 'mailferry', 100, {
      noopFailures: 3,
      errors: ['no-op: no-op re-run copied 6'],
    });
    const t = evaluateTargets([s], 10_000).find((x) => x.label.includes('no-op'));
    expect(t).toMatchObject({
      verdict: 'MISS',
      detail: 'every re-run failed or copied again: no-op: no-op re-run copied 6',
    });
  });
});

describe('realistic corpus', () => {
  it('is deterministic and has the size mix of issue 12', () => {
    expect(realisticMessage(7, 42).equals(realisticMessage(7, 42))).toBe(true);
    expect(realisticMessage(7, 42).equals(realisticMessage(8, 42))).toBe(false);
    const sizes = Array.from({ length: 600 }, (_, i) => realisticMessage(1, i).length).sort((a, b) => a - b);
    const avg = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(sizes[300]!).toBeGreaterThan(6_000);
    expect(sizes[300]!).toBeLessThan(16_000);
    expect(avg).toBeGreaterThan(40_000);
    expect(avg).toBeLessThan(120_000);
    const withAttachment = sizes.filter((s) => s > 100_000).length / sizes.length;
    expect(withAttachment).toBeGreaterThan(0.04);
    expect(withAttachment).toBeLessThan(0.16);
  });

  it('writes multipart/mixed mail with headers and incompressible base64 attachments', () => {
    const raw = Array.from({ length: 200 }, (_, i) => realisticMessage(1, i)).find((m) =>
      m.includes('Content-Type: application/pdf'),
    );
    expect(raw).toBeDefined();
    const text = raw!.toString('latin1');
    for (const h of ['Date:', 'From:', 'To:', 'Subject:', 'Message-ID:', 'Content-Type: multipart/mixed'])
      expect(text).toContain(h);
    const at = text.indexOf('\n\n', text.indexOf('Content-Type: application/pdf'));
    const b64 = text.slice(at + 2, text.indexOf('\n--', at)).replace(/\n/g, '');
    const bytes = Buffer.from(b64, 'base64');
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(deflateRawSync(bytes).length).toBeGreaterThan(bytes.length * 0.98);
    expect(realisticFolders(1000).map((f) => f.count)).toEqual([550, 200, 200, 50]);
  });

  it('makes small unique messages for the big-folder run', () => {
    const a = smallMessage(3, 1);
    expect(a.length).toBeLessThan(6_000);
    expect(a.equals(smallMessage(3, 2))).toBe(false);
  });
});

describe('GNU time', () => {
  it('reads peak RSS and user+system CPU, after a non-zero exit line too', () => {
    expect(parseTime('123456 1.25 0.50\n')).toEqual({ maxRssKb: 123456, cpuSeconds: 1.75 });
    expect(parseTime('Command exited with non-zero status 1\n2048 0.01 0.02\n').maxRssKb).toBe(2048);
  });

  it('measures the CPU a child spends', async () => {
    const m = await measure({
      cmd: process.execPath,
      args: ['-e', 'const t = Date.now(); while (Date.now() - t < 400) {}'],
    });
    expect(m.cpuSeconds).toBeGreaterThan(0.2);
  });
});

describe('profile summary', () => {
  it('adds up self time per function over profiles', () => {
    const dir = tempDir();
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', '') },
        { id: 2, callFrame: frame('parse', 'file:///x/a.js') },
        { id: 3, callFrame: frame('write', 'file:///x/b.js') },
      ],
      samples: [2, 2, 3, 2],
      timeDeltas: [1000, 2000, 500, 1000],
    };
    writeFileSync(join(dir, 'one.cpuprofile'), JSON.stringify(profile));
    const { byFunction, byFile, total } = selfTimes([join(dir, 'one.cpuprofile')]);
    expect(total).toBe(4.5);
    expect(top(byFunction, total, 1)[0]).toMatchObject({ name: 'parse /x/a.js:10', ms: 4 });
    expect(byFile.get('/x/b.js')).toBe(0.5);
  });
});
