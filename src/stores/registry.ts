import type { SinkFactory, SourceFactory } from '../context.js';
import type { Endpoint } from '../endpoint.js';

/** The registry: one factory per endpoint kind, loaded on first use so start-up stays quick. */
export const sources: Record<Endpoint['kind'], () => Promise<SourceFactory>> = {
  pop3: async () => (await import('./pop3/source.js')).openPop3Source,
  imap: async () => (await import('./imap/source.js')).openImapSource,
  mbox: async () => (await import('./mbox/source.js')).openMboxSource,
  zip: async () => (await import('./zip/source.js')).openZipSource,
  maildir: async () => (await import('./maildir/source.js')).openMaildirSource,
};

/** One factory per endpoint kind that can receive mail. */
export const sinks: Partial<Record<Endpoint['kind'], () => Promise<SinkFactory>>> = {
  imap: async () => (await import('./imap/sink.js')).openImapSink,
  mbox: async () => (await import('./mbox/sink.js')).openMboxSink,
  zip: async () => (await import('./zip/sink.js')).openZipSink,
  maildir: async () => (await import('./maildir/sink.js')).openMaildirSink,
};
