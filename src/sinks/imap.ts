import type { SinkFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openImapSink: SinkFactory = async () => {
  throw new UsageError('imap sinks are not implemented yet');
};
