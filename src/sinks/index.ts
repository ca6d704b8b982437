import type { SinkFactory } from '../context.js';
import type { Endpoint } from '../endpoint.js';
import { openImapSink } from './imap.js';
import { openMboxSink } from './mbox.js';
import { openZipSink } from './zip.js';

/** The registry: one factory per endpoint kind that can receive mail. */
export const sinks: Partial<Record<Endpoint['kind'], SinkFactory>> = {
  imap: openImapSink,
  mbox: openMboxSink,
  zip: openZipSink,
};
