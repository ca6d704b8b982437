/**
 * A minimal IMAP APPEND client: one connection (implicit TLS with --ca FILE, else plain), LOGIN,
 * CREATE, then APPEND every message, pipelined with LITERAL+ when the server offers it. It does the least work a copier can do, so
 * its rate is the server's ceiling. Only node builtins: the bench runs it as plain JS.
 *
 *   RAW_APPEND_PASSWORD=... node raw-append.js --host 127.0.0.1 --port 993 --user u --manifest m.json [--ca ca.pem]
 *
 * Prints one JSON line: { appended, failed, bytes, seconds, literalPlus }.
 */
import { readFileSync } from 'node:fs';
import { connect as plainConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface ManifestEntry {
  folder: string;
  /** File holding the raw message bytes. */
  file: string;
  flags: string[];
  /** ISO date; sent as INTERNALDATE. */
  internalDate?: string;
}

interface Tagged {
  status: 'OK' | 'NO' | 'BAD';
  text: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 3501 date-time, in UTC. */
export function imapDate(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** RFC 3501 modified UTF-7 for mailbox names. */
export function encodeMailbox(name: string): string {
  let out = '';
  let pending = '';
  const flush = () => {
    if (!pending) return;
    const b64 = Buffer.from(pending, 'utf16le').swap16().toString('base64').replace(/=+$/, '');
    out += `&${b64.replace(/\//g, ',')}-`;
    pending = '';
  };
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else pending += ch;
  }
  flush();
  return out;
}

export function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

class Connection {
  private buf = '';
  private readonly waiting = new Map<string, (t: Tagged) => void>();
  private onContinue: (() => void) | undefined;
  private failure: Error | undefined;
  private seq = 0;
  capabilities = new Set<string>();
  greeted: Promise<void>;

  constructor(private readonly sock: Socket) {
    let greet: () => void = () => undefined;
    this.greeted = new Promise((resolve) => {
      greet = resolve;
    });
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      for (let i = this.buf.indexOf('\r\n'); i >= 0; i = this.buf.indexOf('\r\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        if (line.startsWith('* OK') && this.seq === 0) greet();
        this.onLine(line);
      }
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const w of this.waiting.values()) w({ status: 'BAD', text: err.message });
      this.waiting.clear();
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }

  private onLine(line: string): void {
    const caps = /\[CAPABILITY ([^\]]+)\]/i.exec(line)?.[1] ?? /^\* CAPABILITY (.+)$/i.exec(line)?.[1];
    if (caps) this.capabilities = new Set(caps.toUpperCase().split(' '));
    if (line.startsWith('+')) {
      this.onContinue?.();
      return;
    }
    const m = /^(A\d+) (OK|NO|BAD)\b ?(.*)$/i.exec(line);
    if (!m) return;
    const w = this.waiting.get(m[1]!);
    this.waiting.delete(m[1]!);
    w?.({ status: m[2]!.toUpperCase() as Tagged['status'], text: m[3] ?? '' });
  }

  private async write(data: string | Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.sock.write(data)) await new Promise((resolve) => this.sock.once('drain', resolve));
  }

  /**
   * Sends a command without waiting for its answer (wrapped, so awaiting the send does not wait
   * for the tagged response). A literal goes after the server's '+' unless LITERAL+ is offered.
   */
  async send(line: string, literal?: Buffer): Promise<{ done: Promise<Tagged> }> {
    const tag = `A${++this.seq}`;
    const done = new Promise<Tagged>((resolve) => this.waiting.set(tag, resolve));
    if (!literal) {
      await this.write(`${tag} ${line}\r\n`);
      return { done };
    }
    const plus = this.capabilities.has('LITERAL+');
    await this.write(`${tag} ${line} {${literal.length}${plus ? '+' : ''}}\r\n`);
    if (!plus) await new Promise<void>((resolve) => (this.onContinue = resolve));
    await this.write(literal);
    await this.write('\r\n');
    return { done };
  }

  async command(line: string): Promise<Tagged> {
    return (await this.send(line)).done;
  }
}

export interface RawAppendOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  entries: ManifestEntry[];
  /** PEM file to verify the server with; given, the connection is implicit TLS. */
  ca?: string;
}

export interface RawAppendResult {
  appended: number;
  failed: number;
  firstError?: string;
  bytes: number;
  seconds: number;
  literalPlus: boolean;
}

async function login(conn: Connection, user: string, password: string): Promise<void> {
  await conn.greeted;
  const r = await conn.command(`LOGIN ${quote(user)} ${quote(password)}`);
  if (r.status !== 'OK') throw new Error(`LOGIN failed: ${r.text}`);
  if (!conn.capabilities.has('IMAP4REV1')) await conn.command('CAPABILITY');
}

export async function rawAppend(o: RawAppendOptions): Promise<RawAppendResult> {
  const started = process.hrtime.bigint();
  const sock = o.ca
    ? tlsConnect({ host: o.host, port: o.port, ca: readFileSync(o.ca) })
    : plainConnect({ host: o.host, port: o.port });
  sock.setNoDelay(true);
  const conn = new Connection(sock);
  try {
    await login(conn, o.user, o.password);
    for (const folder of new Set(o.entries.map((e) => e.folder))) {
      if (folder.toUpperCase() !== 'INBOX') await conn.command(`CREATE ${quote(encodeMailbox(folder))}`);
    }
    const pending: Array<Promise<Tagged>> = [];
    let bytes = 0;
    for (const e of o.entries) {
      const body = readFileSync(e.file);
      bytes += body.length;
      const date = e.internalDate ? ` ${quote(imapDate(e.internalDate))}` : '';
      const sent = await conn.send(
        `APPEND ${quote(encodeMailbox(e.folder))} (${e.flags.join(' ')})${date}`,
        body,
      );
      pending.push(sent.done);
    }
    const results = await Promise.all(pending);
    const bad = results.filter((r) => r.status !== 'OK');
    await conn.command('LOGOUT');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const out: RawAppendResult = {
      appended: results.length - bad.length,
      failed: bad.length,
      bytes,
      seconds,
      literalPlus: conn.capabilities.has('LITERAL+'),
    };
    if (bad[0]) out.firstError = `${bad[0].status} ${bad[0].text}`;
    return out;
  } finally {
    sock.destroy();
  }
}

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`raw-append: missing --${name}`);
  return v;
}

async function main(): Promise<void> {
  const entries = JSON.parse(readFileSync(arg('manifest'), 'utf8')) as ManifestEntry[];
  const password = process.env.RAW_APPEND_PASSWORD;
  if (!password) throw new Error('raw-append: set RAW_APPEND_PASSWORD');
  const r = await rawAppend({
    host: arg('host'),
    port: Number(arg('port')),
    user: arg('user'),
    password,
    entries,
    ...(process.argv.includes('--ca') ? { ca: arg('ca') } : {}),
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exitCode = r.failed ? 1 : 0;
}

if (process.argv.includes('--manifest')) {
  main().catch((err: Error) => {
    process.stderr.write(`raw-append: ${err.message}\n`);
    process.exitCode = 2;
  });
}
