import type { SourceFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openPop3Source: SourceFactory = async () => {
  throw new UsageError('pop3 sources are not implemented yet');
};
