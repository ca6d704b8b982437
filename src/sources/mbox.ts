import type { SourceFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openMboxSource: SourceFactory = async () => {
  throw new UsageError('mbox sources are not implemented yet');
};
