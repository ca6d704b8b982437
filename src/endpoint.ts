import { UsageError } from './errors.js';
import { mailboxOf } from './mail/shared-mailbox.js';
import { refuseLineBreaks } from './util/secrets.js';

export type ServerProtocol = 'imap' | 'imaps' | 'pop3' | 'pop3s';

export interface ServerEndpoint {
  kind: 'imap' | 'pop3';
  protocol: ServerProtocol;
  /** True for implicit TLS (imaps, pop3s); false means STARTTLS/STLS when offered. */
  secure: boolean;
  host: string;
  port: number;
  user: string;
  /** Password given inside the URL (works, but the CLI warns). */
  urlPassword?: string;
  /** Folder from the URL path (IMAP: limit to this folder; POP3: ignored). */
  folder?: string;
}

export interface FileEndpoint {
  kind: 'mbox' | 'zip' | 'maildir';
  path: string;
}

export type Endpoint = ServerEndpoint | FileEndpoint;

const DEFAULT_PORTS: Record<ServerProtocol, number> = { imap: 143, imaps: 993, pop3: 110, pop3s: 995 };

export function isServer(e: Endpoint): e is ServerEndpoint {
  return e.kind === 'imap' || e.kind === 'pop3';
}

/** Parse an endpoint as the command-line contract spells it; throws UsageError naming the problem. */
export function parseEndpoint(text: string): Endpoint {
  const fileMatch = /^(mbox|zip|maildir):(.*)$/i.exec(text);
  if (fileMatch && !fileMatch[2]?.startsWith('//')) {
    const kind = fileMatch[1]!.toLowerCase() as FileEndpoint['kind'];
    const path = fileMatch[2]!;
    if (!path)
      throw new UsageError(`bad endpoint '${text}': no path after '${kind}:'`, {
        hint: `write ${kind}:PATH`,
      });
    return { kind, path };
  }
  // The URL parser silently drops a raw CR or LF; refuse it rather than guess what was meant.
  refuseLineBreaks('the endpoint URL', text);
  const scheme = /^([a-z0-9]+):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (!scheme) {
    throw new UsageError(`bad endpoint '${redactUrl(text)}': no scheme`, {
      hint: 'use imaps://user@host, imap://, pop3s://, pop3://, mbox:PATH, zip:PATH or maildir:PATH',
    });
  }
  if (!(scheme in DEFAULT_PORTS)) {
    throw new UsageError(`bad endpoint '${redactUrl(text)}': unknown scheme '${scheme}'`, {
      hint: 'use imaps, imap, pop3s, pop3, mbox:, zip: or maildir:',
    });
  }
  const protocol = scheme as ServerProtocol;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`bad endpoint '${redactUrl(text)}': not a valid URL`, {
      hint: 'percent-encode an @ in the user name as %40',
    });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new UsageError(`bad endpoint '${redactUrl(text)}': no host name`);
  const user = decode(url.username, text);
  if (!user) {
    throw new UsageError(`bad endpoint '${redactUrl(text)}': no user name`, {
      hint: `write ${protocol}://user@${host}`,
    });
  }
  if (url.search || url.hash) {
    throw new UsageError(`bad endpoint '${redactUrl(text)}': unexpected '?' or '#' in the URL`);
  }
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[protocol];
  const path = decode(url.pathname.replace(/^\//, ''), text);
  // Percent-encoding can smuggle CR/LF into what becomes a LOGIN, USER or SELECT argument.
  refuseLineBreaks(`the user name in '${redactUrl(text)}'`, user, 'remove %0D, %0A and %00');
  refuseLineBreaks(`the folder in '${redactUrl(text)}'`, path, 'remove %0D, %0A and %00');
  const kind = protocol.startsWith('imap') ? 'imap' : 'pop3';
  const endpoint: ServerEndpoint = {
    kind,
    protocol,
    secure: protocol.endsWith('s'),
    host,
    port,
    user,
  };
  if (url.password) {
    endpoint.urlPassword = refuseLineBreaks(
      `the password in '${redactUrl(text)}'`,
      decode(url.password, text),
      'remove %0D, %0A and %00',
    );
  }
  if (path) {
    if (kind === 'pop3') {
      throw new UsageError(`bad endpoint '${redactUrl(text)}': POP3 has no folders`, {
        hint: 'drop the path; use --folder to choose the IMAP target folder',
      });
    }
    endpoint.folder = path;
  }
  return endpoint;
}

function decode(part: string, text: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new UsageError(`bad endpoint '${redactUrl(text)}': broken percent-encoding`);
  }
}

/** The endpoint with any password removed, for logs, reports and the state directory's key; a shared mailbox by its own name. */
export function describeEndpoint(e: Endpoint): string {
  if (!isServer(e)) return `${e.kind}:${e.path}`;
  const user = encodeURIComponent(mailboxOf(e.user));
  const folder = e.folder ? `/${e.folder}` : '';
  return `${e.protocol}://${user}@${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}${folder}`;
}

/** Remove a password from something that looks like a URL, even a malformed one. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z0-9]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
