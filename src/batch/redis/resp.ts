import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ConnectionClosedError } from 'bullmq';

export type RespArg = string | number | Buffer;
export type RespValue = string | number | null | Error | RespValue[];

export interface RedisAddress {
  host: string;
  port: number;
  password?: string;
  username?: string;
  db?: number;
}

/** redis://[user:password@]host:port[/db]; the password never leaves this object. */
export function parseRedisUrl(text: string): RedisAddress {
  const u = new URL(text);
  if (u.protocol !== 'redis:') throw new Error(`not a redis:// URL: ${u.protocol}`);
  const a: RedisAddress = { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) };
  if (u.password) a.password = decodeURIComponent(u.password);
  if (u.username) a.username = decodeURIComponent(u.username);
  const db = u.pathname.replace(/^\//, '');
  if (db) a.db = Number(db);
  return a;
}

function encode(args: RespArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One RESP2 reply from `buf` at `at`, or undefined while it is incomplete. */
function parse(buf: Buffer, at: number): { value: RespValue; next: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (buf[at]) {
    case 0x2b: // +
      return { value: line, next };
    case 0x2d: // -
      return { value: new Error(line), next };
    case 0x3a: // :
      return { value: Number(line), next };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), next: next + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, next };
      const items: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return undefined;
        items.push(r.value);
        p = r.next;
      }
      return { value: items, next: p };
    }
    default:
      throw new Error(`bad RESP reply byte ${buf[at]}`);
  }
}

interface Pending {
  resolve: (v: RespValue) => void;
  reject: (e: Error) => void;
}

/**
 * One Redis connection that comes back by itself: a dropped connection (Redis restarted)
 * fails the commands in flight with ConnectionClosedError, which BullMQ retries, and holds
 * new ones until it is ready again. Status words are the ones BullMQ waits on.
 */
export class RespConnection extends EventEmitter {
  status: 'wait' | 'connecting' | 'ready' | 'reconnecting' | 'end' = 'wait';
  private socket: net.Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly inFlight: Pending[] = [];
  private readonly offline: Array<{ data: Buffer; p: Pending }> = [];
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Run after each (re)connect, before 'ready': login, scripts. */
  onHandshake: ((raw: (args: RespArg[]) => Promise<RespValue>) => Promise<void>) | undefined;

  constructor(readonly address: RedisAddress) {
    super();
  }

  connect(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    if (this.status === 'wait' || this.status === 'end') this.open();
    return new Promise((resolve, reject) => {
      const ok = () => {
        this.off('end', bad);
        resolve();
      };
      const bad = () => {
        this.off('ready', ok);
        reject(new ConnectionClosedError());
      };
      this.once('ready', ok);
      this.once('end', bad);
    });
  }

  private open(): void {
    this.status = this.attempts ? 'reconnecting' : 'connecting';
    const s = net.connect({ host: this.address.host, port: this.address.port });
    this.socket = s;
    s.setNoDelay(true);
    s.on('data', (d) => this.onData(d));
    s.on('error', (e) => this.fail(e));
    s.on('close', () => this.onClose(s));
    s.on('connect', () => void this.handshake(s));
  }

  private async handshake(s: net.Socket): Promise<void> {
    try {
      const a = this.address;
      if (a.password) await this.raw(a.username ? ['AUTH', a.username, a.password] : ['AUTH', a.password]);
      if (a.db) await this.raw(['SELECT', a.db]);
      await this.onHandshake?.((args) => this.raw(args));
    } catch (err) {
      this.fail(err as Error);
      s.destroy();
      return;
    }
    if (this.socket !== s) return;
    this.attempts = 0;
    this.status = 'ready';
    for (const q of this.offline.splice(0)) {
      this.inFlight.push(q.p);
      s.write(q.data);
    }
    this.emit('ready');
  }

  private onClose(s: net.Socket): void {
    if (this.socket !== s) return;
    this.socket = undefined;
    this.buf = Buffer.alloc(0);
    for (const p of this.inFlight.splice(0)) p.reject(new ConnectionClosedError());
    this.emit('close');
    if (this.status === 'end') return;
    this.attempts++;
    this.status = 'reconnecting';
    this.emit('reconnecting');
    this.timer = setTimeout(() => this.open(), Math.min(100 * 2 ** this.attempts, 2000));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let at = 0;
    for (;;) {
      const r = parse(this.buf, at);
      if (!r) break;
      at = r.next;
      const p = this.inFlight.shift();
      if (r.value instanceof Error) p?.reject(r.value);
      else p?.resolve(r.value);
    }
    this.buf = this.buf.subarray(at);
  }

  /** Sends during the handshake too (before 'ready'). */
  private raw(args: RespArg[]): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      this.inFlight.push({ resolve, reject });
      this.socket?.write(encode(args));
    });
  }

  /** A command; several sent in one tick go out in that order, back to back. */
  send(args: RespArg[]): Promise<RespValue> {
    if (this.status === 'end') return Promise.reject(new ConnectionClosedError());
    if (this.status === 'wait') this.open();
    return new Promise((resolve, reject) => {
      const data = encode(args);
      if (this.status === 'ready' && this.socket) {
        this.inFlight.push({ resolve, reject });
        this.socket.write(data);
      } else this.offline.push({ data, p: { resolve, reject } });
    });
  }

  /** EventEmitter throws an 'error' nobody listens to; a dropped connection is not fatal. */
  private fail(e: Error): void {
    if (this.listenerCount('error')) this.emit('error', e);
  }

  /** Closes for good: every waiting command fails. */
  end(): void {
    this.status = 'end';
    clearTimeout(this.timer);
    this.socket?.destroy();
    for (const q of this.offline.splice(0)) q.p.reject(new ConnectionClosedError());
    for (const p of this.inFlight.splice(0)) p.reject(new ConnectionClosedError());
    this.emit('close');
    this.emit('end');
  }
}
