import type { Readable } from 'node:stream';
import type { ServerEndpoint } from '../endpoint.js';
import { ConnectionError, type MailferryError } from '../errors.js';

/** How a reply is read: status line only, status + collected body, status + streamed body, SASL. */
export type ReplyKind = 'single' | 'multi' | 'stream' | 'sasl';

export interface Reply {
  /** Status line text after "+OK ". */
  text: string;
  /** Decoded body of a 'multi' reply. */
  body?: Buffer;
  /** Body of a 'stream' reply; resolves at "+OK", ends at the terminating dot. */
  stream?: Readable;
}

/** The server answered -ERR. */
export class Pop3ReplyError extends ConnectionError {
  readonly serverText: string;
  /** RFC 2449/3206 response code, e.g. "AUTH", "IN-USE", "SYS/TEMP". */
  readonly responseCode?: string;

  constructor(command: string, serverText: string, where: string) {
    super('EPROTOCOL', `${where} refused ${command}: ${serverText.slice(0, 200) || '-ERR'}`, {
      retryable: false,
    });
    this.serverText = serverText;
    this.responseCode = /^\[([^\]]+)\]/.exec(serverText)?.[1]?.toUpperCase();
  }
}

/** A command waiting for its reply, as the wire tracks it. */
export interface Pending {
  /** Undefined for the greeting, which is read without sending anything. */
  line?: string;
  /** For errors; never carries a secret. */
  label: string;
  kind: ReplyKind;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  /** SASL: answers a "+ " challenge with the next line to send. */
  onChallenge?: (text: string) => string;
  settled?: boolean;
  text?: string;
  body?: Buffer[];
  stream?: Readable;
  /** The consumer destroyed the stream: read the rest of the body and drop it. */
  discard?: boolean;
  /** Most body bytes accepted; past it the reply fails with `overLimit()` and the connection closes. */
  limit?: BodyLimit;
  received?: number;
}

/** A bound on one reply's body: what the command could honestly return. */
export interface BodyLimit {
  bytes: number;
  error: () => MailferryError;
}

export interface WireOptions {
  endpoint: ServerEndpoint;
  timeoutMs: number;
  onBytes?: (n: number) => void;
}
