import { isRetryable, MailferryError } from '../errors.js';
import type { Sink, SinkCapabilities, Source, SourceCapabilities } from '../types.js';
import { SessionPool } from './pool.js';

export interface SessionDeps {
  openSource: () => Promise<Source>;
  openSink: () => Promise<Sink>;
  /** Sessions the planner already opened. */
  initial?: { source: Source; sink: Sink };
  sourceCaps: SourceCapabilities;
  sinkCaps: SinkCapabilities;
  connections: number;
}

/** The run's source and sink sessions: one pool per side. */
export class Sessions {
  readonly sources: SessionPool<Source>;
  readonly sinks: SessionPool<Sink>;

  constructor(d: SessionDeps) {
    const n = Math.max(1, d.connections);
    // A session that batches concurrent calls (IMAP FETCH and MULTIAPPEND, POP3 pipelined
    // RETR) or allows only one session (files, which serialise) is shared between workers.
    const srcMax = Math.min(n, d.sourceCaps.maxConnections);
    this.sources = new SessionPool(d.openSource, srcMax, sharing(srcMax, d.sourceCaps.pipelineDepth));
    const sinkMax = Math.min(n, d.sinkCaps.maxConnections);
    this.sinks = new SessionPool(d.openSink, sinkMax, sharing(sinkMax, d.sinkCaps.pipelineDepth));
    if (d.initial) {
      this.sources.adopt(d.initial.source);
      this.sinks.adopt(d.initial.sink);
    }
  }

  withSink<T>(fn: (sink: Sink) => Promise<T>): Promise<T> {
    return lend(this.sinks, fn);
  }

  withSource<T>(fn: (source: Source) => Promise<T>): Promise<T> {
    return lend(this.sources, fn);
  }

  async closeAll(): Promise<void> {
    await this.sources.closeAll();
    await this.sinks.closeAll();
  }
}

async function lend<S extends { close(): Promise<void> }, T>(
  pool: SessionPool<S>,
  fn: (s: S) => Promise<T>,
): Promise<T> {
  const s = await pool.acquire();
  try {
    const out = await fn(s);
    pool.release(s);
    return out;
  } catch (err) {
    pool.release(s, brokeSession(err));
    throw err;
  }
}

/**
 * Whether a failure means the session should be replaced. A throttled session still works
 * (the server said NO), and closing it would fail every batch other workers queued on it.
 */
export function brokeSession(err: unknown): boolean {
  return isRetryable(err) && !(err instanceof MailferryError && err.code === 'ETHROTTLED');
}

function sharing(max: number, depth: number | undefined): number | undefined {
  return max === 1 ? Number.POSITIVE_INFINITY : depth;
}
