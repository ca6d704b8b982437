import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ConnectionError, type MailferryError } from '../errors.js';
import { classifyNetError } from '../util/net.js';
import { assertWireSafe, hasLineBreak } from '../util/secrets.js';
import { DotDecoder } from './dot.js';
import { IdleTimer, StatusLine } from './lines.js';
import {
  type BodyLimit,
  type Pending,
  Pop3ReplyError,
  type Reply,
  type ReplyKind,
  type WireOptions,
} from './reply.js';

export { type BodyLimit, Pop3ReplyError, type Reply, type ReplyKind, type WireOptions } from './reply.js';

const STREAM_HWM = 64 * 1024;

/**
 * One POP3 connection: writes commands (pipelined up to `depth`), reads replies in order,
 * and turns every failure (reset, close, idle timeout, garbage) into one typed error that
 * rejects every waiting command and errors a body stream that is still open.
 */
export class Pop3Wire {
  private socket: Socket;
  private readonly queue: Pending[] = [];
  private readonly inflight: Pending[] = [];
  private readonly decoder = new DotDecoder();
  private inBody = false;
  private readonly status = new StatusLine();
  private pausedFor?: Readable;
  private readonly idle: IdleTimer;
  private depth = 1;
  private pumpScheduled = false;
  /** Set once the connection is unusable; later commands reject with it. */
  dead?: MailferryError;

  constructor(
    socket: Socket,
    private readonly opts: WireOptions,
  ) {
    this.socket = socket;
    this.idle = new IdleTimer(opts.timeoutMs, () => {
      const what = this.inflight[0]?.label ?? 'a reply';
      const secs = Math.round(opts.timeoutMs / 100) / 10;
      this.fail(new ConnectionError('ETIMEDOUT', `no answer from ${this.where} to ${what} in ${secs} s`));
    });
    this.attach(socket);
  }

  get where(): string {
    return `${this.opts.endpoint.host}:${this.opts.endpoint.port}`;
  }

  /** Read the greeting; the socket may still be connecting. */
  greeting(): Promise<Reply> {
    return this.enqueue({ label: 'the greeting', kind: 'single' });
  }

  command(line: string, kind: ReplyKind = 'single', label = line, limit?: BodyLimit): Promise<Reply> {
    return this.safe(line) ?? this.enqueue({ line, label, kind, ...(limit && { limit }) });
  }

  sasl(line: string, onChallenge: (text: string) => string): Promise<Reply> {
    return this.safe(line) ?? this.enqueue({ line, label: line, kind: 'sasl', onChallenge });
  }

  /** A line with CR/LF/NUL inside would be two commands: rejected, never written. */
  private safe(line: string): Promise<Reply> | undefined {
    try {
      assertWireSafe(this.where, line);
      return undefined;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Commands in flight at once; RFC 2449 PIPELINING, only after login. */
  setPipelineDepth(depth: number): void {
    this.depth = Math.max(1, depth);
    this.pump();
  }

  /** Stop reading from the current socket (before a TLS upgrade) and hand it over. */
  detach(): Socket {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('close');
    this.idle.clear();
    return this.socket;
  }

  /** Read from `socket` from now on (the TLS socket after STLS). */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(classifyNetError(err, this.opts.endpoint)));
    socket.on('end', () => this.onClosed());
    socket.on('close', () => this.onClosed());
    this.refreshTimer();
  }

  /** Close without QUIT; safe on a dead socket. */
  destroy(): void {
    this.fail(new ConnectionError('ECLOSED', `connection to ${this.where} closed by mailferry`));
  }

  private enqueue(p: Omit<Pending, 'resolve' | 'reject'>): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.dead) {
        reject(this.dead);
        return;
      }
      this.queue.push({ ...p, resolve, reject });
      // Deferred so commands issued in one go (Promise.all of DELEs) are written together.
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        queueMicrotask(() => {
          this.pumpScheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    // Corked so a pipelined batch leaves in one write instead of one packet per command.
    const batch = this.depth > 1 && this.queue.length > 1;
    if (batch) this.socket.cork();
    while (this.queue.length && !this.dead && this.inflight.length < this.depth) {
      const p = this.queue.shift()!;
      this.inflight.push(p);
      if (p.line !== undefined) this.socket.write(`${p.line}\r\n`);
    }
    if (batch) this.socket.uncork();
    this.refreshTimer();
  }

  private onData(chunk: Buffer): void {
    this.opts.onBytes?.(chunk.length);
    let off = 0;
    while (off < chunk.length && !this.dead) {
      const p = this.inflight[0];
      if (!p) {
        this.fail(this.protocolError('the server sent data nobody asked for'));
        return;
      }
      if (this.inBody) {
        const pieces: Buffer[] = [];
        const end = this.decoder.decode(chunk, off, (b) => pieces.push(b));
        this.deliver(p, pieces);
        if (this.dead) return;
        if (end < 0) break;
        off = end;
        this.finishBody(p);
      } else {
        off = this.readStatus(chunk, off, p);
      }
    }
    const s = this.inBody ? this.inflight[0]?.stream : undefined;
    if (s && !s.destroyed && s.readableLength >= s.readableHighWaterMark && !this.pausedFor) {
      this.pausedFor = s;
      this.socket.pause();
    }
    this.refreshTimer();
  }

  /** Consume up to one status line; returns the new offset. */
  private readStatus(chunk: Buffer, off: number, p: Pending): number {
    const r = this.status.read(chunk, off);
    if (r === 'too long') {
      this.fail(this.protocolError('a status line longer than 64 KiB'));
      return chunk.length;
    }
    if (r.line !== undefined) this.onStatus(r.line, p);
    return r.next;
  }

  private onStatus(line: string, p: Pending): void {
    const ok = /^\+OK(?: |$)/.exec(line);
    if (ok) {
      p.text = line.slice(4);
      if (p.kind === 'multi' || p.kind === 'stream') this.startBody(p);
      else this.complete(p, { text: p.text });
      return;
    }
    if (/^-ERR(?: |$)/.test(line)) {
      this.inflight.shift();
      this.settle(p, () => p.reject(new Pop3ReplyError(p.label, line.slice(5), this.where)));
      this.pump();
      return;
    }
    if (p.kind === 'sasl' && p.onChallenge && /^\+(?: |$)/.test(line)) {
      const answer = p.onChallenge(line.slice(2));
      if (hasLineBreak(answer)) {
        this.fail(
          new ConnectionError('EPROTOCOL', `refused to send ${this.where} a SASL answer with a line break`),
        );
        return;
      }
      this.socket.write(`${answer}\r\n`);
      return;
    }
    this.fail(this.protocolError(`malformed reply to ${p.label}: ${JSON.stringify(line.slice(0, 80))}`));
  }

  private startBody(p: Pending): void {
    this.inBody = true;
    this.decoder.reset();
    if (p.kind === 'multi') {
      p.body = [];
      return;
    }
    const stream = new Readable({
      highWaterMark: STREAM_HWM,
      read: () => this.resumeFor(stream),
      destroy: (err, cb) => {
        if (this.inflight[0] === p && this.inBody) p.discard = true;
        this.resumeFor(stream);
        cb(err);
      },
    });
    p.stream = stream;
    this.settle(p, () => p.resolve({ text: p.text ?? '', stream }));
  }

  /** One push per socket chunk: dot lines would otherwise cut a message into many tiny writes. */
  private deliver(p: Pending, pieces: Buffer[]): void {
    if (pieces.length === 0) return;
    if (p.limit) {
      p.received = (p.received ?? 0) + pieces.reduce((n, b) => n + b.length, 0);
      if (p.received > p.limit.bytes) {
        this.overflow(p, p.limit.error());
        return;
      }
    }
    if (p.body) p.body.push(...pieces);
    else if (p.stream && !p.discard && !p.stream.destroyed) {
      p.stream.push(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
    }
  }

  private finishBody(p: Pending): void {
    this.inBody = false;
    if (p.stream) {
      if (!p.stream.destroyed) p.stream.push(null);
      this.resumeFor(p.stream);
      this.inflight.shift();
      this.pump();
      return;
    }
    const body = Buffer.concat(p.body ?? []);
    p.body = undefined;
    this.complete(p, { text: p.text ?? '', body });
  }

  private complete(p: Pending, reply: Reply): void {
    this.inflight.shift();
    this.settle(p, () => p.resolve(reply));
    this.pump();
  }

  private settle(p: Pending, fn: () => void): void {
    if (p.settled) return;
    p.settled = true;
    fn();
  }

  private resumeFor(stream: Readable): void {
    if (this.pausedFor !== stream) return;
    this.pausedFor = undefined;
    if (!this.dead) this.socket.resume();
    this.refreshTimer();
  }

  private onClosed(): void {
    const busy = this.inflight.length > 0 || this.queue.length > 0;
    const during = this.inflight[0] ? ` during ${this.inflight[0].label}` : '';
    this.fail(
      new ConnectionError('ECLOSED', `${this.where} closed the connection${during}`, {
        retryable: true,
        hint: busy ? 'a re-run resumes' : undefined,
      }),
    );
  }

  /** Idle timer: runs only while a reply is awaited and we are not holding the socket paused. */
  private refreshTimer(): void {
    this.idle.refresh(!this.dead && this.inflight.length > 0 && !this.pausedFor);
  }

  private protocolError(what: string): ConnectionError {
    return new ConnectionError('EPROTOCOL', `${this.where}: ${what}`, { retryable: true });
  }

  /**
   * A reply past its bound: only that command fails with `err`; the rest of the reply is not
   * worth reading, so the connection goes, and the other waiting commands fail as closed.
   */
  private overflow(p: Pending, err: MailferryError): void {
    if (p.stream && !p.stream.destroyed) p.stream.destroy(err);
    this.settle(p, () => p.reject(err));
    this.fail(new ConnectionError('ECLOSED', `${this.where}: closed after an oversize reply to ${p.label}`));
  }

  private fail(err: MailferryError): void {
    if (this.dead) return;
    this.dead = err;
    this.idle.clear();
    const waiting = [...this.inflight.splice(0), ...this.queue.splice(0)];
    for (const p of waiting) {
      if (p.stream && !p.stream.destroyed) p.stream.destroy(err);
      this.settle(p, () => p.reject(err));
    }
    this.socket.destroy();
  }
}
