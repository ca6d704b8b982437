import type { SourceFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openImapSource: SourceFactory = async () => {
  throw new UsageError('imap sources are not implemented yet');
};
