import type { SourceFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openZipSource: SourceFactory = async () => {
  throw new UsageError('zip sources are not implemented yet');
};
