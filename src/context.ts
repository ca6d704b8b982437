import type { Endpoint } from './endpoint.js';
import type { Sink, Source } from './types.js';
import type { Logger } from './util/log.js';
import type { ServerOptions } from './util/net.js';

/** Everything an adapter needs to open one session; plain data, built once from the CLI config. */
export interface EndpointContext {
  endpoint: Endpoint;
  /** Present for imap/pop3 endpoints. */
  server?: ServerOptions;
  log: Logger;
  /** IMAP source: messages above this size stream with download() instead of fetch. */
  largeMessageBytes: number;
  /** Called once per byte chunk read from a server, for accounting/rate limits. */
  onBytes?: (n: number) => void;
}

export type SourceFactory = (ctx: EndpointContext) => Promise<Source>;
export type SinkFactory = (ctx: EndpointContext) => Promise<Sink>;
