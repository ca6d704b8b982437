import type { SourceFactory } from '../context.js';
import type { Endpoint } from '../endpoint.js';

/** The registry: one factory per endpoint kind, loaded on first use so start-up stays quick. */
export const sources: Record<Endpoint['kind'], () => Promise<SourceFactory>> = {
  pop3: async () => (await import('./pop3.js')).openPop3Source,
  imap: async () => (await import('./imap.js')).openImapSource,
  mbox: async () => (await import('./mbox.js')).openMboxSource,
  zip: async () => (await import('./zip.js')).openZipSource,
};
