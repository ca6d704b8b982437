import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

export interface Pop3Reply {
  /** The status line without CRLF, e.g. "+OK 2 messages". */
  status: string;
  /** A multi-line answer's bytes, dot-unstuffed, without the terminating ".\r\n". */
  body?: Buffer;
}

const END = Buffer.from('\r\n.\r\n');

/**
 * A small POP3 client for rig tests, one command at a time: plain, STLS or implicit TLS, the
 * server certificate verified against caFile. Bytes are kept as the server sent them.
 */
export class Pop3Session {
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private failure: Error | undefined;

  private constructor(private sock: Socket | TLSSocket) {
    this.listen(sock);
  }

  static async open(port: number, mode: 'plain' | 'stls' | 'implicit', caFile: string): Promise<Pop3Session> {
    const ca = [readFileSync(caFile)];
    const sock =
      mode === 'implicit'
        ? tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
        : connect({ host: '127.0.0.1', port });
    const s = new Pop3Session(sock);
    const greeting = await s.read(false);
    if (!greeting.status.startsWith('+OK')) throw new Error(`POP3 greeting: ${greeting.status}`);
    if (mode === 'stls') await s.startTls(ca);
    return s;
  }

  private listen(sock: Socket | TLSSocket): void {
    sock.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.wake?.();
    });
    sock.on('error', (err) => {
      this.failure = err;
      this.wake?.();
    });
    sock.on('close', () => {
      this.failure ??= new Error('POP3 connection closed');
      this.wake?.();
    });
  }

  private async startTls(ca: Buffer[]): Promise<void> {
    const reply = await this.command('STLS');
    if (!reply.status.startsWith('+OK')) throw new Error(`STLS refused: ${reply.status}`);
    const plain = this.sock;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = tlsConnect({ socket: plain, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.sock = secure;
    this.listen(secure);
  }

  /** Wait until the buffer holds a full reply (status line, and the body if multi). */
  private async read(multi: boolean): Promise<Pop3Reply> {
    for (;;) {
      const eol = this.buffered.indexOf('\r\n');
      if (eol >= 0) {
        const status = this.buffered.subarray(0, eol).toString('latin1');
        if (!multi || !status.startsWith('+OK')) {
          this.buffered = this.buffered.subarray(eol + 2);
          return { status };
        }
        // The body starts after the status line; an empty body ends right there with ".\r\n".
        const from = eol;
        const end = this.buffered.indexOf(END, from);
        if (end >= 0) {
          const raw = this.buffered.subarray(eol + 2, end + 2);
          this.buffered = this.buffered.subarray(end + END.length);
          return { status, body: unstuff(raw) };
        }
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  command(line: string, multi = false): Promise<Pop3Reply> {
    this.sock.write(`${line}\r\n`);
    return this.read(multi);
  }

  get encrypted(): boolean {
    return 'encrypted' in this.sock && this.sock.encrypted === true;
  }

  async quit(): Promise<void> {
    await this.command('QUIT').catch(() => undefined);
    this.sock.destroy();
  }
}

/** Undo POP3 dot-stuffing: a line that starts with ".." starts with "." in the message. */
function unstuff(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let at = 0; at < raw.length; ) {
    const nl = raw.indexOf('\n', at);
    const lineEnd = nl < 0 ? raw.length : nl + 1;
    if (raw[at] === 0x2e && raw[at + 1] === 0x2e) {
      parts.push(raw.subarray(start, at));
      start = at + 1;
    }
    at = lineEnd;
  }
  parts.push(raw.subarray(start));
  return Buffer.concat(parts);
}
