import cliProgress from 'cli-progress';

/** All counters live here; the executor bumps them, displays and the report read them. */
export class Counters {
  planned = 0;
  plannedBytes = 0;
  copied = 0;
  bytes = 0;
  failed = 0;
  readonly startedAt = Date.now();

  rate(): number {
    const s = (Date.now() - this.startedAt) / 1000;
    return s > 0 ? this.copied / s : 0;
  }
}

export type ProgressMode = 'auto' | 'bar' | 'log' | 'none';

export interface ProgressDisplay {
  stop(): void;
}

const MB = 1024 * 1024;

/**
 * cli-progress only when stderr is a terminal: its non-terminal output is broken,
 * so elsewhere a plain line every ~10 s.
 */
export function startProgress(
  mode: ProgressMode,
  c: Counters,
  write: (line: string) => void,
): ProgressDisplay {
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'log') : mode;
  if (resolved === 'none' || c.planned === 0) return { stop() {} };
  if (resolved === 'log') {
    const timer = setInterval(() => write(logLine(c)), 10_000).unref();
    return { stop: () => clearInterval(timer) };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {bar} {value}/{total} msgs | {mb}/{totalMb} MB | {rate} msg/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(c.planned, 0, fields(c));
  const timer = setInterval(() => bar.update(c.copied + c.failed, fields(c)), 250).unref();
  return {
    stop() {
      clearInterval(timer);
      bar.update(c.copied + c.failed, fields(c));
      bar.stop();
    },
  };
}

function fields(c: Counters) {
  return {
    mb: (c.bytes / MB).toFixed(1),
    totalMb: (c.plannedBytes / MB).toFixed(1),
    rate: c.rate().toFixed(1),
  };
}

export function logLine(c: Counters): string {
  const done = c.copied + c.failed;
  const rate = c.rate();
  const eta = rate > 0 ? Math.round((c.planned - done) / rate) : undefined;
  return `progress: ${done}/${c.planned} messages, ${(c.bytes / MB).toFixed(1)}/${(c.plannedBytes / MB).toFixed(1)} MB, ${rate.toFixed(1)} msg/s${eta === undefined ? '' : `, about ${eta} s left`}`;
}
