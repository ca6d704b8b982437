import type { SourceFactory } from '../context.js';
import type { Endpoint } from '../endpoint.js';
import { openImapSource } from './imap.js';
import { openMboxSource } from './mbox.js';
import { openPop3Source } from './pop3.js';
import { openZipSource } from './zip.js';

/** The registry: one factory per endpoint kind, nothing else. */
export const sources: Record<Endpoint['kind'], SourceFactory> = {
  pop3: openPop3Source,
  imap: openImapSource,
  mbox: openMboxSource,
  zip: openZipSource,
};
