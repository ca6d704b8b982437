/**
 * A TCP proxy that injects faults between mailferry and a real server, driven by the test while
 * connections are live. It listens on 127.0.0.1 and forwards to a loopback target only.
 *
 * What works:
 * - Byte-level faults (cutAfter, stall, delay, refuse, drop) on any stream, TLS included: bytes
 *   pass through untouched, so imaps:// and pop3s:// see a real network fault.
 * - Line rules (replaceReply, answerCommand) only on plaintext (imap:// or pop3:// on loopback):
 *   lines are read as latin1, matched without their line ending, and a whole line is held until
 *   its LF only while a rule is active in that direction (a line over 64 KiB passes unmatched).
 * - IMAP literals in both directions: a line ending in `{n}`, `{n+}`, `~{n}` or `~{n+}` is followed
 *   by n opaque bytes and a continuation line, none of which is matched. So message text inside a
 *   FETCH or APPEND literal never triggers a rule.
 * - answerCommand on an APPEND line: with a synchronizing literal the client waits for `+`, gets
 *   the reply instead and sends no literal; with a non-synchronizing one (LITERAL+ / LITERAL-) the
 *   proxy swallows the literal and the rest of the command (MULTIAPPEND parts too), so the next
 *   command reaches the server intact.
 *
 * Limits: if the real server refuses a synchronizing literal itself (tagged NO instead of `+`),
 * the proxy still expects the literal and matching on that connection is off until n bytes went by
 * (bytes are still forwarded exactly). Answers are written straight to the client, ahead of any
 * server bytes the proxy still holds (stall, delay). Byte counters count bytes delivered, after
 * rewriting; swallowed bytes are not counted.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type Direction = 'up' | 'down';
/** next: the next accepted connection; each: every live and later connection, each its own count; all: one count shared by all connections, cut once. */
export type CutScope = 'next' | 'each' | 'all';
export type RefuseMode = 'close' | 'reset';
export type Reply = string | ((line: string) => string);

export interface RuleHandle {
  /** Lines this rule matched so far. */
  readonly hits: number;
  /** Matches left before the rule retires. */
  readonly remaining: number;
  cancel(): void;
}

export interface ConnectionStats {
  id: number;
  bytesUp: number;
  bytesDown: number;
  replaced: number;
  answered: number;
  cut: boolean;
  open: boolean;
}

export interface ProxyStats {
  connections: number;
  open: number;
  refused: number;
  cut: number;
  bytesUp: number;
  bytesDown: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const MAX_LINE = 64 * 1024;
const HIGH_WATER = 256 * 1024;
const LITERAL_END = /~?\{(\d+)(\+)?\}\r?\n$/;

class Rule implements RuleHandle {
  hits = 0;
  constructor(
    readonly pattern: RegExp,
    readonly reply: (line: string) => string,
    public remaining: number,
  ) {}
  cancel(): void {
    this.remaining = 0;
  }
}

interface Segment {
  data: Buffer;
  kind: 'literal' | 'partial' | 'line';
  /** Set only for a whole line that starts a command or reply and was held entire. */
  text?: string;
  eol?: string;
  literal?: { size: number; sync: boolean };
}

/** Splits a stream into lines and IMAP literals, holding a partial line only when asked to. */
class LineSplitter {
  private parts: Buffer[] = [];
  private passed = false;
  private tail = '';
  private literalLeft = 0;
  private continued = false;

  *split(chunk: Buffer, hold: boolean): Generator<Segment> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, chunk.length - pos);
        this.literalLeft -= n;
        yield { data: chunk.subarray(pos, pos + n), kind: 'literal' };
        pos += n;
        continue;
      }
      const lf = chunk.indexOf(0x0a, pos);
      const piece = chunk.subarray(pos, lf < 0 ? chunk.length : lf + 1);
      pos += piece.length;
      this.parts.push(piece);
      this.tail = (this.tail + piece.subarray(-32).toString('latin1')).slice(-32);
      if (lf >= 0) yield this.endLine(hold);
      else if (!hold || this.heldBytes() > MAX_LINE) {
        this.passed = true;
        yield { data: this.take(), kind: 'partial' };
      }
    }
  }

  /** The consumer answered a line that announced a synchronizing literal: the client won't send it. */
  cancelLiteral(): void {
    this.literalLeft = 0;
    this.continued = false;
  }

  take(): Buffer {
    const data = Buffer.concat(this.parts);
    this.parts = [];
    return data;
  }

  private heldBytes(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }

  private endLine(hold: boolean): Segment {
    const data = this.take();
    const m = LITERAL_END.exec(this.tail);
    const seg: Segment = { data, kind: 'line' };
    if (m) seg.literal = { size: Number(m[1]), sync: !m[2] };
    if (hold && !this.passed && !this.continued) {
      const text = data.toString('latin1');
      seg.eol = text.endsWith('\r\n') ? '\r\n' : '\n';
      seg.text = text.slice(0, -seg.eol.length);
    }
    this.passed = false;
    this.tail = '';
    this.continued = m !== null;
    this.literalLeft = seg.literal?.size ?? 0;
    return seg;
  }
}

/** Fault settings shared by all connections of one proxy. */
class Faults {
  stall?: { promise: Promise<void>; resolve: () => void; timer?: NodeJS.Timeout };
  delayMs = 0;
  refusing?: RefuseMode;
  next: Partial<Record<Direction, number>> = {};
  each: Partial<Record<Direction, number>> = {};
  shared: Partial<Record<Direction, number>> = {};
  replace: Rule[] = [];
  answer: Rule[] = [];
  readonly abort = new AbortController();
  readonly totals: ProxyStats = { connections: 0, open: 0, refused: 0, cut: 0, bytesUp: 0, bytesDown: 0 };

  /** Wait out a stall, then the per-chunk delay. */
  async pace(): Promise<void> {
    while (this.stall) await this.stall.promise;
    if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: this.abort.signal });
  }

  endStall(): void {
    const s = this.stall;
    this.stall = undefined;
    clearTimeout(s?.timer);
    s?.resolve();
  }

  holds(dir: Direction): boolean {
    return (dir === 'down' ? this.replace : this.answer).some((r) => r.remaining > 0);
  }

  /** The reply of the first live rule matching the line, spending one of its uses. */
  match(dir: Direction, line: string): string | undefined {
    const rules = dir === 'down' ? this.replace : this.answer;
    for (const rule of rules) {
      if (rule.remaining <= 0) continue;
      rule.pattern.lastIndex = 0;
      if (!rule.pattern.test(line)) continue;
      rule.hits++;
      rule.remaining--;
      return rule.reply(line);
    }
    return undefined;
  }

  clear(): void {
    this.endStall();
    this.delayMs = 0;
    this.refusing = undefined;
    this.next = {};
    this.each = {};
    this.shared = {};
    for (const r of [...this.replace, ...this.answer]) r.cancel();
    this.replace = [];
    this.answer = [];
  }
}

interface Lane {
  dir: Direction;
  src: net.Socket;
  dst: net.Socket;
  splitter: LineSplitter;
  queue: Buffer[];
  queued: number;
  running: boolean;
  ended: boolean;
  finished: boolean;
}

/** One client connection and its upstream twin, with a paced pump per direction. */
class Conn {
  readonly stats: ConnectionStats;
  readonly left: Record<Direction, number> = { up: Number.POSITIVE_INFINITY, down: Number.POSITIVE_INFINITY };
  readonly gone: Promise<void>;
  private dead = false;
  private swallowing = false;

  constructor(
    id: number,
    private readonly client: net.Socket,
    private readonly server: net.Socket,
    private readonly faults: Faults,
  ) {
    this.stats = { id, bytesUp: 0, bytesDown: 0, replaced: 0, answered: 0, cut: false, open: true };
    const up = this.lane('up', client, server);
    const down = this.lane('down', server, client);
    this.gone = Promise.all([up, down]).then(() => {
      this.stats.open = false;
      this.faults.totals.open--;
    });
  }

  destroy(): void {
    this.dead = true;
    this.client.destroy();
    this.server.destroy();
  }

  /** Kill the connection as a network fault would: both sides at once. */
  drop(mode: RefuseMode): void {
    if (this.dead) return;
    this.markCut();
    if (mode === 'reset') this.client.resetAndDestroy();
    this.destroy();
  }

  private lane(dir: Direction, src: net.Socket, dst: net.Socket): Promise<void> {
    const lane: Lane = {
      dir,
      src,
      dst,
      splitter: new LineSplitter(),
      queue: [],
      queued: 0,
      running: false,
      ended: false,
      finished: false,
    };
    src.setNoDelay(true);
    src.on('data', (chunk: Buffer) => {
      if (this.dead) return;
      lane.queue.push(chunk);
      lane.queued += chunk.length;
      if (lane.queued > HIGH_WATER) src.pause();
      void this.pump(lane);
    });
    src.on('end', () => {
      lane.ended = true;
      void this.pump(lane);
    });
    src.on('error', () => this.destroy());
    return new Promise((resolve) =>
      src.on('close', () => {
        if (!lane.ended) this.destroy();
        resolve();
      }),
    );
  }

  private async pump(lane: Lane): Promise<void> {
    if (lane.running) return;
    lane.running = true;
    try {
      while (lane.queue.length > 0 && !this.dead) {
        await this.faults.pace();
        if (this.dead) break;
        const chunk = lane.queue.shift()!;
        lane.queued -= chunk.length;
        if (lane.queued <= HIGH_WATER && lane.src.isPaused()) lane.src.resume();
        this.process(lane, chunk);
        if (lane.dst.writableNeedDrain && !lane.dst.destroyed) await drained(lane.dst);
      }
      if (lane.ended && lane.queue.length === 0 && !this.dead && !lane.finished) {
        lane.finished = true;
        const rest = lane.splitter.take();
        if (this.emit(lane.dir, lane.dir === 'up' && this.swallowing ? rest.subarray(0, 0) : rest))
          lane.dst.end();
      }
    } catch {
      this.destroy();
    } finally {
      lane.running = false;
    }
  }

  private process(lane: Lane, chunk: Buffer): void {
    const hold = this.faults.holds(lane.dir);
    // One writev per chunk, not one write per line.
    lane.dst.cork();
    for (const seg of lane.splitter.split(chunk, hold)) {
      if (this.dead) break;
      const out = lane.dir === 'down' ? this.rewriteReply(seg) : this.filterCommand(lane.splitter, seg);
      if (out && !this.emit(lane.dir, out)) break;
    }
    lane.dst.uncork();
  }

  private rewriteReply(seg: Segment): Buffer {
    if (seg.text === undefined) return seg.data;
    const reply = this.faults.match('down', seg.text);
    if (reply === undefined) return seg.data;
    this.stats.replaced++;
    return Buffer.from(reply + seg.eol, 'latin1');
  }

  private filterCommand(splitter: LineSplitter, seg: Segment): Buffer | undefined {
    if (this.swallowing) {
      if (seg.kind === 'line') this.skipRest(splitter, seg);
      return undefined;
    }
    if (seg.text === undefined) return seg.data;
    const reply = this.faults.match('up', seg.text);
    if (reply === undefined) return seg.data;
    this.stats.answered++;
    this.skipRest(splitter, seg);
    this.emit('down', Buffer.from(`${reply}\r\n`, 'latin1'));
    return undefined;
  }

  /** After an answered line: swallow a literal the client sends unasked, forget one it would wait for. */
  private skipRest(splitter: LineSplitter, seg: Segment): void {
    this.swallowing = seg.literal !== undefined && !seg.literal.sync;
    if (seg.literal?.sync) splitter.cancelLiteral();
  }

  /** Deliver bytes unless a cut budget runs out; returns false once the connection is cut. */
  private emit(dir: Direction, buf: Buffer): boolean {
    if (this.dead) return false;
    const shared = this.faults.shared[dir] ?? Number.POSITIVE_INFINITY;
    const n = Math.min(buf.length, this.left[dir], shared);
    this.left[dir] -= n;
    if (this.faults.shared[dir] !== undefined) this.faults.shared[dir] = shared - n;
    this.count(dir, n);
    const dst = dir === 'up' ? this.server : this.client;
    if (n === buf.length) {
      if (n > 0) dst.write(buf);
      return true;
    }
    if (shared === n) delete this.faults.shared[dir];
    this.cut(dst, buf.subarray(0, n));
    return false;
  }

  private count(dir: Direction, n: number): void {
    if (dir === 'up') {
      this.stats.bytesUp += n;
      this.faults.totals.bytesUp += n;
    } else {
      this.stats.bytesDown += n;
      this.faults.totals.bytesDown += n;
    }
  }

  /** Deliver the last bytes with a clean FIN, then drop both sides. */
  private cut(receiver: net.Socket, last: Buffer): void {
    this.markCut();
    this.dead = true;
    (receiver === this.client ? this.server : this.client).destroy();
    receiver.end(last, () => receiver.destroy());
  }

  private markCut(): void {
    this.stats.cut = true;
    this.faults.totals.cut++;
  }
}

function drained(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

function asReply(reply: Reply): (line: string) => string {
  return typeof reply === 'string' ? () => reply : reply;
}

export class FaultProxy {
  readonly host = '127.0.0.1';
  private readonly faults = new Faults();
  private readonly live = new Set<Conn>();
  private readonly history: Conn[] = [];

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(target: { host?: string; port: number }): Promise<FaultProxy> {
    const host = target.host ?? '127.0.0.1';
    if (!LOOPBACK.has(host)) throw new Error(`FaultProxy forwards to loopback only, not ${host}`);
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    return new FaultProxy(server, { host, port: target.port }, port);
  }

  /** Cut after `bytes` bytes in `direction` (up: client to server); the receiver gets exactly that many. */
  cutAfter(bytes: number, direction: Direction, scope: CutScope = 'next'): void {
    if (scope === 'next') this.faults.next[direction] = bytes;
    else if (scope === 'all') this.faults.shared[direction] = bytes;
    else {
      this.faults.each[direction] = bytes;
      for (const c of this.live) c.left[direction] = bytes;
    }
  }

  /** Stop forwarding both ways, on live and new connections, for `ms`; resolves when forwarding resumes. */
  stall(ms: number): Promise<void> {
    let stall = this.faults.stall;
    if (!stall) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      stall = { promise, resolve };
      this.faults.stall = stall;
    }
    clearTimeout(stall.timer);
    stall.timer = setTimeout(() => this.faults.endStall(), ms);
    return stall.promise;
  }

  /** Hold every chunk, both ways, for `msPerChunk` before forwarding it (0 turns it off). */
  delay(msPerChunk: number): void {
    this.faults.delayMs = msPerChunk;
  }

  /** While on, close (FIN) or reset (RST) every new connection right after accepting it. */
  refuse(on: boolean, mode: RefuseMode = 'close'): void {
    this.faults.refusing = on ? mode : undefined;
  }

  /** Drop every live connection now. */
  drop(mode: RefuseMode = 'close'): void {
    for (const c of this.live) c.drop(mode);
  }

  /** Replace a whole server line (without its line ending) matching `pattern`, `times` times. */
  replaceReply(pattern: RegExp, replacement: Reply, times = 1): RuleHandle {
    const rule = new Rule(pattern, asReply(replacement), times);
    this.faults.replace.push(rule);
    return rule;
  }

  /** Answer a client line matching `pattern` with `reply` (no CRLF needed) instead of forwarding it. */
  answerCommand(pattern: RegExp, reply: Reply, times = 1): RuleHandle {
    const rule = new Rule(pattern, asReply(reply), times);
    this.faults.answer.push(rule);
    return rule;
  }

  /** Back to a plain proxy: ends a stall, retires rules, lifts cut limits on live connections. */
  clearFaults(): void {
    this.faults.clear();
    for (const c of this.live) {
      c.left.up = Number.POSITIVE_INFINITY;
      c.left.down = Number.POSITIVE_INFINITY;
    }
  }

  stats(): ProxyStats {
    return { ...this.faults.totals };
  }

  connectionStats(): ConnectionStats[] {
    return this.history.map((c) => ({ ...c.stats }));
  }

  /** End every socket and the listener; resolves once all of them are closed. */
  async close(): Promise<void> {
    this.faults.clear();
    this.faults.abort.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const conns = [...this.live];
    for (const c of conns) c.destroy();
    await Promise.all([closed, ...conns.map((c) => c.gone)]);
  }

  private accept(client: net.Socket): void {
    const totals = this.faults.totals;
    client.on('error', () => {});
    if (this.faults.refusing) {
      totals.refused++;
      if (this.faults.refusing === 'reset') client.resetAndDestroy();
      else client.destroy();
      return;
    }
    totals.connections++;
    totals.open++;
    const upstream = net.connect({ ...this.target, allowHalfOpen: true });
    const conn = new Conn(totals.connections, client, upstream, this.faults);
    Object.assign(conn.left, this.faults.each, this.faults.next);
    this.faults.next = {};
    this.live.add(conn);
    this.history.push(conn);
    void conn.gone.then(() => this.live.delete(conn));
  }
}
