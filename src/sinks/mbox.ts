import type { SinkFactory } from '../context.js';
import { UsageError } from '../errors.js';

export const openMboxSink: SinkFactory = async () => {
  throw new UsageError('mbox sinks are not implemented yet');
};
