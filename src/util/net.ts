import { type ConnectionOptions, createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { isLoopback, type ServerEndpoint } from '../endpoint.js';
import { ConnectionError, MailferryError } from '../errors.js';

export type AuthSecret =
  /** `admin`: delegated login, SASL PLAIN as `admin` (whose password `secret` is) on behalf of `user`. */
  | { method: 'password'; user: string; secret: string; admin?: string }
  | { method: 'xoauth2'; user: string; secret: string };

/** The admin of a delegated login, for the secret forms a server may echo. */
export function secretAdmin(secret: AuthSecret): string | undefined {
  return secret.method === 'password' ? secret.admin : undefined;
}

/** Called at every new connection, so an OAuth2 command can hand out a fresh token each time. */
export type AuthProvider = () => Promise<AuthSecret>;

export interface TlsSettings {
  /** Extra trusted CAs (--ca-file), on top of the system store. */
  ca?: string[];
  /** --insecure: skip certificate checks. */
  insecure: boolean;
}

export interface ServerOptions {
  endpoint: ServerEndpoint;
  auth: AuthProvider;
  tls: TlsSettings;
  allowPlaintext: boolean;
  /** Idle timeout for every read, in ms. */
  timeoutMs: number;
}

const contexts = new WeakMap<TlsSettings, SecureContext>();

export function tlsOptions(host: string, tls: TlsSettings): ConnectionOptions {
  const opts: ConnectionOptions = { rejectUnauthorized: !tls.insecure, minVersion: 'TLSv1.2' };
  if (!/^[\d.:]+$/.test(host)) opts.servername = host;
  if (tls.ca?.length) {
    let ctx = contexts.get(tls);
    if (!ctx) {
      ctx = trusting(tls.ca);
      contexts.set(tls, ctx);
    }
    opts.secureContext = ctx;
  }
  return opts;
}

/** The native context's method that adds one PEM certificate to its trust store. */
type WithAddCACert = SecureContext & { context?: { addCACert?: (pem: string) => void } };

/**
 * A context trusting the bundled roots plus `ca`. Node drops the roots when `ca` is given,
 * and adding them back as PEM costs 20-60 ms a run (a fifth of a no-op re-run); starting from
 * the default context (its shared root store) and adding only our CAs costs about 1 ms.
 * The native addCACert is not in Node's typings, so the slow way stays as a fallback.
 */
function trusting(ca: string[]): SecureContext {
  const ctx = createSecureContext({ minVersion: 'TLSv1.2' }) as WithAddCACert;
  const add = ctx.context?.addCACert;
  if (typeof add !== 'function') {
    return createSecureContext({ ca: [...ca, ...rootCertificates], minVersion: 'TLSv1.2' });
  }
  for (const pem of ca) add.call(ctx.context, pem);
  return ctx;
}

/** Refuse to send a password without TLS to anything but loopback, unless the user said so. */
export function assertPlaintextAllowed(opts: ServerOptions, tlsActive: boolean): void {
  if (tlsActive || opts.allowPlaintext || isLoopback(opts.endpoint.host)) return;
  throw new ConnectionError(
    'EPLAINTEXT',
    `${opts.endpoint.host} offers no TLS, and the password would go in clear text`,
    {
      hint: `use ${opts.endpoint.kind === 'imap' ? 'imaps' : 'pop3s'}://, or --allow-plaintext if you accept that`,
      retryable: false,
    },
  );
}

const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** Turn a socket or TLS error into a one-line ConnectionError that says what to do. */
export function classifyNetError(err: unknown, endpoint: ServerEndpoint): MailferryError {
  if (err instanceof MailferryError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e?.code ?? '';
  const where = `${endpoint.host}:${endpoint.port}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ConnectionError('ENOTFOUND', `host name ${endpoint.host} not found`, {
      hint: 'check the host name and your DNS',
      retryable: false,
      cause: err,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new ConnectionError('ECONNREFUSED', `connection to ${where} refused`, {
      hint: 'check the port and that the server is running',
      retryable: true,
      cause: err,
    });
  }
  if (code === 'ETIMEDOUT' || code === 'ETIMEOUT' || code === 'ESOCKETTIMEDOUT') {
    return new ConnectionError('ETIMEDOUT', `no answer from ${where} in time`, {
      hint: 'check the host, port and firewall',
      cause: err,
    });
  }
  if (CERT_CODES.has(code)) {
    const why =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'is not valid for this host name' : 'is not trusted';
    return new ConnectionError('ECERT', `the certificate of ${where} ${why} (${code})`, {
      hint: 'pass the CA with --ca-file FILE, or --insecure to skip the check',
      retryable: false,
      cause: err,
    });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new ConnectionError('ECONNRESET', `connection to ${where} was reset`, { cause: err });
  }
  const msg = e instanceof Error ? e.message : String(err);
  return new ConnectionError('EPROTOCOL', `${where}: ${msg.split('\n')[0]}`, { cause: err, retryable: true });
}

export function authFailed(endpoint: ServerEndpoint, serverText?: string, oauth2 = false): ConnectionError {
  const said = serverText ? `: ${serverText.replace(/\s+/g, ' ').trim().slice(0, 120)}` : '';
  const side = oauth2 ? 'OAuth2 token for' : 'login as';
  return new ConnectionError('EAUTH', `${side} ${endpoint.user} at ${endpoint.host} rejected${said}`, {
    hint: oauth2
      ? 'the token command gave a token the server refused: expired, revoked, or without the mail scope'
      : 'check the password; Gmail and Microsoft 365 need an app password or --source-oauth2-command/--sink-oauth2-command',
    retryable: false,
  });
}
