import type { SinkFactory } from '../context.js';
import type { Endpoint } from '../endpoint.js';

/** The registry: one factory per endpoint kind that can receive mail, loaded on first use. */
export const sinks: Partial<Record<Endpoint['kind'], () => Promise<SinkFactory>>> = {
  imap: async () => (await import('./imap.js')).openImapSink,
  mbox: async () => (await import('./mbox.js')).openMboxSink,
  zip: async () => (await import('./zip.js')).openZipSink,
};
