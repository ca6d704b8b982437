/**
 * A small in-process POP3 server for tests, with knobs for the faults a real network has:
 * replies split at chosen byte positions, resets and closes in the middle of RETR, stalls,
 * malformed status lines, with or without PIPELINING/STLS.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

export interface FakePop3Options {
  messages: Buffer[];
  /** UIDLs, default uid-1, uid-2, ... */
  uids?: string[];
  user?: string;
  password?: string;
  /** Bearer token accepted by AUTH XOAUTH2. */
  token?: string;
  /** Capabilities to list; false answers CAPA with -ERR. */
  capa?: string[] | false;
  pipelining?: boolean;
  /** Offer STLS with this key pair. */
  stls?: { key: string; cert: string };
  /** Speak TLS from the start (pop3s). */
  implicitTls?: { key: string; cert: string };
  greeting?: string;
  /** Cut each reply into pieces, written one by one with a pause between. */
  split?: (reply: Buffer, command: string) => Buffer[];
  /** The pause between pieces; the default (one event-loop turn) may let pieces merge in-process. */
  splitDelayMs?: number;
  /** Write this many bytes of the RETR reply, then reset (RST) or close (FIN). */
  retrFault?: { after: number; how: 'reset' | 'close' };
  /** Never answer this command verb. */
  stall?: string;
  /** Answer this verb with this raw line instead. */
  malformed?: Record<string, string>;
  /** Put the received password into the -ERR text, like a careless server would. */
  echoPasswordOnFail?: boolean;
}

export interface FakePop3 {
  port: number;
  /** Every command line received, in order, across sessions. */
  commands: string[];
  /** Decoded SASL responses. */
  sasl: string[];
  /** Lines per received data chunk: more than one means the client pipelined. */
  linesPerChunk: number[];
  /** UIDLs deleted at a QUIT. */
  deleted: string[];
  close(): Promise<void>;
}

/** RFC 1939 byte-stuffing: a dot at line start doubles; the body ends with CRLF "." CRLF. */
export function stuff(message: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  if (message[0] === 0x2e) parts.push(Buffer.from('.'));
  for (let at = message.indexOf('\r\n.'); at >= 0; at = message.indexOf('\r\n.', at + 2)) {
    parts.push(message.subarray(from, at + 2), Buffer.from('.'));
    from = at + 2;
  }
  parts.push(message.subarray(from));
  const tail = message.subarray(-2).toString('latin1') === '\r\n' ? '' : '\r\n';
  return Buffer.concat([...parts, Buffer.from(`${tail}.\r\n`)]);
}

export function headerPart(message: Buffer): Buffer {
  const end = message.indexOf('\r\n\r\n');
  return end < 0 ? message : message.subarray(0, end + 4);
}

const pause = (ms?: number) => new Promise<void>((r) => (ms ? setTimeout(r, ms) : setImmediate(r)));

export async function startFakePop3(opts: FakePop3Options): Promise<FakePop3> {
  const state = {
    mailbox: opts.messages.map((bytes, i) => ({ uid: opts.uids?.[i] ?? `uid-${i + 1}`, bytes })),
    commands: [] as string[],
    sasl: [] as string[],
    linesPerChunk: [] as number[],
    deleted: [] as string[],
  };
  const sockets = new Set<net.Socket>();
  const onConn = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    new Session(opts, state, socket).start();
  };
  const server = opts.implicitTls ? tls.createServer(opts.implicitTls, onConn) : net.createServer(onConn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    commands: state.commands,
    sasl: state.sasl,
    linesPerChunk: state.linesPerChunk,
    deleted: state.deleted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

type State = {
  mailbox: Array<{ uid: string; bytes: Buffer }>;
  commands: string[];
  sasl: string[];
  linesPerChunk: number[];
  deleted: string[];
};

class Session {
  private out: Promise<void> = Promise.resolve();
  private buf = '';
  private authed = false;
  private user = '';
  private marks = new Set<number>();
  private saslStep?: (line: string) => void;
  private readonly timestamp = `<${process.pid}.${Date.now()}@fake>`;

  constructor(
    private readonly opts: FakePop3Options,
    private readonly state: State,
    private socket: net.Socket,
  ) {}

  start(): void {
    this.listen();
    this.send(`+OK ${this.opts.greeting ?? `fake POP3 ready ${this.timestamp}`}`, 'greeting');
  }

  private listen(): void {
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      const lines = this.buf.split('\r\n');
      this.buf = lines.pop() ?? '';
      this.state.linesPerChunk.push(lines.length);
      for (const line of lines) this.handle(line);
    });
  }

  private send(text: string | Buffer, command: string, body?: Buffer): void {
    const reply = Buffer.concat([
      Buffer.from(typeof text === 'string' ? `${text}\r\n` : text),
      body ?? Buffer.alloc(0),
    ]);
    const pieces = this.opts.split ? this.opts.split(reply, command) : [reply];
    this.out = this.out.then(async () => {
      for (const piece of pieces) {
        if (this.socket.destroyed) return;
        await new Promise<void>((r) => this.socket.write(piece, () => r()));
        if (pieces.length > 1) await pause(this.opts.splitDelayMs);
      }
    });
  }

  private handle(line: string) {
    this.state.commands.push(line);
    if (this.saslStep) return this.saslStep(line);
    const [verb = '', ...args] = line.split(' ');
    const v = verb.toUpperCase();
    if (this.opts.stall === v) return;
    const bad = this.opts.malformed?.[v];
    if (bad !== undefined) return this.send(bad, v);
    if (!this.authed) return this.handleAuth(v, args);
    this.handleTransaction(v, args.map(Number));
  }

  private capa(): string[] {
    const base = this.opts.capa || ['TOP', 'UIDL', 'USER', 'RESP-CODES', 'SASL PLAIN XOAUTH2'];
    const extra = [
      this.opts.pipelining === false ? [] : ['PIPELINING'],
      this.opts.stls && !this.authed ? ['STLS'] : [],
    ];
    return [...base, ...extra.flat()];
  }

  private handleAuth(v: string, args: string[]) {
    const o = this.opts;
    const pass = o.password ?? 'secret';
    const fail = (got: string) =>
      this.send(`-ERR [AUTH] login failed${o.echoPasswordOnFail ? ` for '${got}'` : ''}`, v);
    const check = (user: string, got: string) => {
      if (user === (o.user ?? 'demo') && got === pass) this.login();
      else fail(got);
    };
    if (v === 'CAPA') {
      if (o.capa === false) return this.send('-ERR unknown command', v);
      return this.send(`+OK\r\n${this.capa().join('\r\n')}\r\n.`, v);
    }
    if (v === 'STLS' && o.stls) return this.startTls(o.stls);
    if (v === 'USER') {
      this.user = args[0] ?? '';
      return this.send('+OK', v);
    }
    if (v === 'PASS') return check(this.user, args.join(' '));
    if (v === 'APOP') {
      const want = createHash('md5')
        .update(this.timestamp + pass)
        .digest('hex');
      return args[1] === want ? check(args[0] ?? '', pass) : fail(args[1] ?? '');
    }
    if (v === 'AUTH' && (args[0] === 'PLAIN' || args[0] === 'XOAUTH2')) {
      this.send('+ ', v);
      this.saslStep = (resp) => {
        this.saslStep = undefined;
        const decoded = Buffer.from(resp, 'base64').toString('utf8');
        this.state.sasl.push(decoded);
        if (args[0] === 'PLAIN') {
          const [, user = '', got = ''] = decoded.split('\0');
          return check(user, got);
        }
        if (decoded === `user=${o.user ?? 'demo'}\x01auth=Bearer ${o.token}\x01\x01`) return this.login();
        this.send('+ eyJzdGF0dXMiOiI0MDAifQ==', v);
        this.saslStep = () => {
          this.saslStep = undefined;
          fail('');
        };
      };
      return;
    }
    if (v === 'QUIT') return this.quit(false);
    this.send('-ERR not now', v);
  }

  private login(): void {
    this.authed = true;
    this.send('+OK logged in', 'login');
  }

  private startTls(keys: { key: string; cert: string }): void {
    this.send('+OK begin TLS', 'STLS');
    this.out = this.out.then(() => {
      this.socket.removeAllListeners('data');
      const secure = new tls.TLSSocket(this.socket, { isServer: true, ...keys });
      secure.on('error', () => undefined);
      this.socket = secure;
      this.listen();
    });
  }

  private live(): Array<{ n: number; uid: string; bytes: Buffer }> {
    return this.state.mailbox.map((m, i) => ({ n: i + 1, ...m })).filter((m) => !this.marks.has(m.n));
  }

  private handleTransaction(v: string, args: number[]) {
    const msg = this.live().find((m) => m.n === args[0]);
    const listing = (f: (m: { n: number; uid: string; bytes: Buffer }) => string) =>
      this.send(`+OK\r\n${this.live().map(f).join('')}.`, v);
    if (v === 'CAPA') return this.send(`+OK\r\n${this.capa().join('\r\n')}\r\n.`, v);
    if (v === 'STAT') {
      const live = this.live();
      return this.send(`+OK ${live.length} ${live.reduce((s, m) => s + m.bytes.length, 0)}`, v);
    }
    if (v === 'LIST') return listing((m) => `${m.n} ${m.bytes.length}\r\n`);
    if (v === 'UIDL') return listing((m) => `${m.n} ${m.uid}\r\n`);
    if (v === 'NOOP') return this.send('+OK', v);
    if (v === 'RSET') {
      this.marks.clear();
      return this.send('+OK', v);
    }
    if (v === 'QUIT') return this.quit(true);
    if (!msg) return this.send('-ERR no such message', v);
    if (v === 'DELE') {
      this.marks.add(msg.n);
      return this.send('+OK marked', v);
    }
    if (v === 'TOP') return this.send('+OK', v, stuff(headerPart(msg.bytes)));
    if (v === 'RETR') return this.retr(msg.bytes);
    this.send('-ERR unknown command', v);
  }

  private retr(bytes: Buffer) {
    const fault = this.opts.retrFault;
    if (!fault) return this.send(`+OK ${bytes.length} octets`, 'RETR', stuff(bytes));
    const reply = Buffer.concat([Buffer.from(`+OK ${bytes.length} octets\r\n`), stuff(bytes)]);
    this.out = this.out.then(async () => {
      await new Promise<void>((r) => this.socket.write(reply.subarray(0, fault.after), () => r()));
      // Let the client read those bytes first: an RST that overtakes unread data shows up as a plain EOF.
      await pause(20);
      if (fault.how === 'reset') this.socket.resetAndDestroy();
      else this.socket.end();
    });
  }

  private quit(commit: boolean): void {
    if (commit) {
      const gone = this.state.mailbox.filter((_, i) => this.marks.has(i + 1));
      this.state.deleted.push(...gone.map((m) => m.uid));
      this.state.mailbox = this.state.mailbox.filter((_, i) => !this.marks.has(i + 1));
    }
    this.send('+OK bye', 'QUIT');
    this.out = this.out.then(() => {
      this.socket.end();
    });
  }
}
