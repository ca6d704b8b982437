import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { ConnectionError, FolderError, type MailferryError } from '../errors.js';
import { MAX_LISTING_LINE } from '../mail/limits.js';
import type { Logger } from '../util/log.js';
import {
  type AuthSecret,
  assertPlaintextAllowed,
  authFailed,
  classifyNetError,
  type ServerOptions,
  secretAdmin,
  tlsOptions,
} from '../util/net.js';
import { scrub, secretForms } from '../util/secrets.js';
import { timerMs } from '../util/timers.js';
import { type BodyLimit, Pop3ReplyError, Pop3Wire } from './wire.js';

export { Pop3ReplyError } from './wire.js';

export type Pop3AuthMethod = 'auto' | 'user' | 'apop' | 'plain';

export interface Pop3ClientOptions {
  server: ServerOptions;
  log?: Logger;
  /** Called once per chunk read from the server. */
  onBytes?: (n: number) => void;
  /** 'auto': SASL PLAIN if offered, else USER/PASS, else APOP. XOAUTH2 secrets always use AUTH XOAUTH2. */
  auth?: Pop3AuthMethod;
  /** Commands in flight at once when the server offers PIPELINING (default 32). */
  pipelineDepth?: number;
}

/** CAPA as a map from upper-case capability name to its arguments; undefined if CAPA is unsupported. */
export type Pop3Capabilities = Map<string, string[]>;

export interface Pop3Listing {
  n: number;
  size: number;
}

export interface Pop3Uid {
  n: number;
  uid: string;
}

/** mailferry's own POP3 client: byte-exact RETR streams, pipelining, typed errors. */
export class Pop3Client {
  private quitSent = false;

  private constructor(
    private readonly wire: Pop3Wire,
    readonly capabilities: Pop3Capabilities | undefined,
    readonly tlsActive: boolean,
  ) {}

  /** Connect, upgrade with STLS where needed, and log in with the credentials from `server.auth`. */
  static async connect(opts: Pop3ClientOptions): Promise<Pop3Client> {
    const ep = opts.server.endpoint;
    const wireOpts = { endpoint: ep, timeoutMs: opts.server.timeoutMs, onBytes: opts.onBytes };
    // Credentials first: one the wire cannot carry fails before any connection is made.
    const secret = await opts.server.auth();
    const socket = ep.secure
      ? tls.connect({ ...tlsOptions(ep.host, opts.server.tls), host: ep.host, port: ep.port })
      : net.connect({ host: ep.host, port: ep.port });
    const wire = new Pop3Wire(socket, wireOpts);
    try {
      const greeting = await wire.greeting();
      let capa = await readCapa(wire);
      let tlsActive = ep.secure;
      if (!tlsActive && (capa === undefined || capa.has('STLS'))) {
        tlsActive = await startTls(wire, opts);
        if (tlsActive) capa = await readCapa(wire);
      }
      assertPlaintextAllowed(opts.server, tlsActive);
      await login(wire, opts, capa, greeting.text, secret);
      opts.log?.debug('pop3 logged in', { host: ep.host, tls: tlsActive });
      // CAPA may change after login (RFC 2449); PIPELINING is what matters now.
      const after = (await readCapa(wire)) ?? capa;
      if (after?.has('PIPELINING')) wire.setPipelineDepth(opts.pipelineDepth ?? 32);
      return new Pop3Client(wire, after, tlsActive);
    } catch (err) {
      wire.destroy();
      throw classifyNetError(err, ep);
    }
  }

  get closed(): boolean {
    return this.wire.dead !== undefined || this.quitSent;
  }

  get pipelining(): boolean {
    return this.capabilities?.has('PIPELINING') ?? false;
  }

  async stat(): Promise<{ count: number; bytes: number }> {
    const r = await this.wire.command('STAT');
    const m = /^(\d+) (\d+)/.exec(r.text);
    if (!m) throw this.malformed('STAT', r.text);
    return { count: Number(m[1]), bytes: Number(m[2]) };
  }

  /** `maxLines`: what STAT said is there, plus room for mail arriving (a flood fails instead). */
  async list(maxLines?: number): Promise<Pop3Listing[]> {
    const lines = await this.multiLines('LIST', maxLines);
    return lines.map((l) => {
      const m = /^(\d+) (\d+)/.exec(l);
      if (!m) throw this.malformed('LIST', l);
      return { n: Number(m[1]), size: Number(m[2]) };
    });
  }

  async uidl(maxLines?: number): Promise<Pop3Uid[]> {
    const lines = await this.multiLines('UIDL', maxLines);
    return lines.map((l) => {
      const m = /^(\d+) ([\x21-\x7e]+)/.exec(l);
      if (!m) throw this.malformed('UIDL', l);
      return { n: Number(m[1]), uid: m[2]! };
    });
  }

  /**
   * Headers plus `lines` body lines; pipelines when called several times without awaiting.
   * `maxBytes`: the message's LIST size plus slack; a longer reply fails this TOP.
   */
  async top(n: number, lines = 0, maxBytes?: number): Promise<Buffer> {
    const cmd = `TOP ${n} ${lines}`;
    const r = await this.wire.command(cmd, 'multi', cmd, maxBytes ? this.limit(cmd, maxBytes) : undefined);
    return r.body ?? Buffer.alloc(0);
  }

  /**
   * The raw message bytes, unstuffed, ending with its final CRLF; resolves once the server says +OK.
   * `maxBytes` bounds the body: past it the stream errors with `tooBig()` and the connection closes.
   */
  async retr(n: number, maxBytes?: number, tooBig?: () => MailferryError): Promise<Readable> {
    const cmd = `RETR ${n}`;
    const limit = maxBytes
      ? { bytes: maxBytes, error: tooBig ?? this.limit(cmd, maxBytes).error }
      : undefined;
    const r = await this.wire.command(cmd, 'stream', cmd, limit);
    return r.stream!;
  }

  async dele(n: number): Promise<void> {
    await this.wire.command(`DELE ${n}`);
  }

  /** Mark many messages deleted, pipelined; commits only at QUIT. */
  async deleMany(ns: readonly number[]): Promise<void> {
    await Promise.all(ns.map((n) => this.dele(n)));
  }

  async rset(): Promise<void> {
    await this.wire.command('RSET');
  }

  async noop(): Promise<void> {
    await this.wire.command('NOOP');
  }

  /** End the session; the server commits DELE marks now. Throws if it could not. */
  async quit(): Promise<void> {
    this.quitSent = true;
    try {
      await this.wire.command('QUIT');
    } finally {
      this.wire.destroy();
    }
  }

  /** QUIT if still possible, then drop the socket; never throws. */
  async close(): Promise<void> {
    if (this.closed) return this.wire.destroy();
    await this.quit().catch(() => undefined);
  }

  private async multiLines(cmd: string, maxLines?: number): Promise<string[]> {
    const limit = maxLines ? this.limit(cmd, maxLines * MAX_LISTING_LINE) : undefined;
    const r = await this.wire.command(cmd, 'multi', cmd, limit);
    return (r.body ?? Buffer.alloc(0))
      .toString('latin1')
      .split('\r\n')
      .filter((l) => l.length > 0);
  }

  private limit(cmd: string, bytes: number): BodyLimit {
    const where = this.wire.where;
    return {
      bytes,
      error: () =>
        // POP3 has one folder: a listing it cannot give sanely is that folder's failure.
        new FolderError('EFOLDER', `${where} sent more than ${bytes} bytes in reply to ${cmd}`, {
          hint: 'the server floods its replies; report it to its operator',
        }),
    };
  }

  private malformed(cmd: string, text: string): ConnectionError {
    return new ConnectionError(
      'EPROTOCOL',
      `${this.wire.where}: malformed ${cmd} reply: ${JSON.stringify(text.slice(0, 80))}`,
      {
        retryable: true,
      },
    );
  }
}

async function readCapa(wire: Pop3Wire): Promise<Pop3Capabilities | undefined> {
  try {
    const r = await wire.command('CAPA', 'multi');
    const capa: Pop3Capabilities = new Map();
    for (const line of (r.body ?? Buffer.alloc(0)).toString('latin1').split('\r\n')) {
      const [name, ...args] = line.trim().split(/\s+/);
      if (name) capa.set(name.toUpperCase(), args);
    }
    return capa;
  } catch (err) {
    if (err instanceof Pop3ReplyError) return undefined;
    throw err;
  }
}

/** STLS, then TLS on the same socket. False when the server refuses STLS (no CAPA to tell us). */
async function startTls(wire: Pop3Wire, opts: Pop3ClientOptions): Promise<boolean> {
  try {
    await wire.command('STLS');
  } catch (err) {
    if (err instanceof Pop3ReplyError) return false;
    throw err;
  }
  const ep = opts.server.endpoint;
  const raw = wire.detach();
  const secure = tls.connect({ ...tlsOptions(ep.host, opts.server.tls), socket: raw });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ConnectionError('ETIMEDOUT', `TLS handshake with ${wire.where} timed out`)),
      timerMs(opts.server.timeoutMs),
    );
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
    secure.once('error', (err) => {
      clearTimeout(timer);
      reject(classifyNetError(err, ep));
    });
  });
  wire.attach(secure);
  return true;
}

function chooseMethod(opts: Pop3ClientOptions, capa: Pop3Capabilities | undefined, timestamp?: string) {
  if (opts.auth && opts.auth !== 'auto') return opts.auth;
  if (capa?.get('SASL')?.some((m) => m.toUpperCase() === 'PLAIN')) return 'plain';
  if (!capa || capa.has('USER')) return 'user';
  return timestamp ? 'apop' : 'user';
}

async function login(
  wire: Pop3Wire,
  opts: Pop3ClientOptions,
  capa: Pop3Capabilities | undefined,
  greeting: string,
  secret: AuthSecret,
): Promise<void> {
  const timestamp = /<[^<>@]*@[^<>]*>/.exec(greeting)?.[0];
  const user = secret.user;
  try {
    if (secret.method === 'xoauth2') {
      const ir = b64(`user=${user}\x01auth=Bearer ${secret.secret}\x01\x01`);
      // Sent after the "+" rather than inline: a token easily passes the 255-octet command limit.
      // A second challenge carries the server's JSON error; an empty line ends the exchange.
      await wire.sasl('AUTH XOAUTH2', answers([ir], ''));
      return;
    }
    if (secret.admin !== undefined) {
      await delegatedLogin(wire, capa, user, secret.admin, secret.secret);
      return;
    }
    const method = chooseMethod(opts, capa, timestamp);
    if (method === 'plain') {
      await wire.sasl('AUTH PLAIN', answers([b64(`\0${user}\0${secret.secret}`)], '*'));
    } else if (method === 'apop') {
      if (!timestamp)
        throw new ConnectionError('EAUTH', `${wire.where} offers no APOP timestamp`, { retryable: false });
      const digest = createHash('md5')
        .update(timestamp + secret.secret, 'utf8')
        .digest('hex');
      await wire.command(`APOP ${user} ${digest}`, 'single', 'APOP');
    } else {
      await wire.command(`USER ${user}`, 'single', 'USER');
      await wire.command(`PASS ${secret.secret}`, 'single', 'PASS');
    }
  } catch (err) {
    throw loginError(err, opts, secret);
  }
}

/** SASL PLAIN with an authorisation identity (RFC 4616): `user\0admin\0password`. */
async function delegatedLogin(
  wire: Pop3Wire,
  capa: Pop3Capabilities | undefined,
  user: string,
  admin: string,
  password: string,
): Promise<void> {
  if (!capa?.get('SASL')?.some((m) => m.toUpperCase() === 'PLAIN')) {
    throw new ConnectionError('EAUTH', `${wire.where} offers no SASL PLAIN, which a delegated login needs`, {
      hint: 'drop --source-auth-user and log in as the user, or ask the operator to enable AUTH PLAIN',
      retryable: false,
    });
  }
  await wire.sasl('AUTH PLAIN', answers([b64(`${user}\0${admin}\0${password}`)], '*'));
}

function loginError(err: unknown, opts: Pop3ClientOptions, secret: AuthSecret): unknown {
  if (!(err instanceof Pop3ReplyError)) return err;
  const ep = opts.server.endpoint;
  // A server that echoes what it got must not leak the secret into our error text.
  const said = scrub(err.serverText, secretForms(secret.secret, secret.user, secretAdmin(secret)));
  const code = err.responseCode;
  if (code === 'IN-USE' || code === 'SYS/TEMP' || code === 'LOGIN-DELAY') {
    return new ConnectionError(
      'ETHROTTLED',
      `${ep.host} cannot open the mailbox of ${ep.user} now: ${said}`,
      {
        hint:
          code === 'IN-USE' ? 'another POP3 session holds the mailbox; close it or wait' : 'wait and re-run',
        retryable: true,
      },
    );
  }
  return authFailed(ep, said, secret.method === 'xoauth2');
}

/** SASL responses in turn, then `rest` (cancel) for any further challenge. */
function answers(steps: string[], rest: string): () => string {
  return () => steps.shift() ?? rest;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
