import type { SinkFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openZipSink: SinkFactory = async () => {
  throw new UsageError('zip sinks are not implemented yet');
};
