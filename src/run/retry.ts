import { isRetryable, LimitError, MailferryError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { sleep } from '../util/timers.js';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  random?: () => number;
}

/** Exponential backoff with full jitter; a server's hint (throttling) wins when it is longer. */
export function backoffDelay(attempt: number, err: unknown, opts: BackoffOptions): number {
  const cap = Math.min(opts.maxMs, opts.baseMs * 2 ** attempt);
  const jittered = Math.round(cap / 2 + (opts.random ?? Math.random)() * (cap / 2));
  const hint = err instanceof MailferryError ? err.retryAfterMs : undefined;
  return hint !== undefined ? Math.max(hint, jittered / 4) : jittered;
}

export async function waitFor(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(ms, signal).catch(() => undefined);
}

export interface RetryRules {
  retries: number;
  /** Throttled waits the run accepts in all before it stops (--max-throttle). */
  maxThrottleMs: number;
  log: Logger;
  /** Ends a wait at once. */
  signal: AbortSignal;
  /** Whether a refused login may be an expired token worth one fresh login. */
  mayRelogin?: (err: unknown) => boolean;
  /** A throttling server: fewer messages at once. Returns the new concurrency. */
  slowDown: () => number;
  /** Stops the run: the server kept throttling. */
  halt: (err: MailferryError) => void;
}

/** Whether a failed attempt gets another, and how long to wait first: the one place for both. */
export class Retrier {
  private throttledMs = 0;

  constructor(private readonly r: RetryRules) {}

  /** An expired OAuth2 token: one more try on a fresh login before the run stops. */
  relogin(attempt: number, err: unknown): boolean {
    return attempt === 0 && !!this.r.mayRelogin?.(err);
  }

  /** Whether attempt `attempt` (from 0), which failed with `err`, is followed by another. */
  again(attempt: number, err: unknown): boolean {
    return (this.relogin(attempt, err) || isRetryable(err)) && attempt < this.r.retries;
  }

  async backOff(attempt: number, err: unknown): Promise<void> {
    const ms = backoffDelay(attempt, err, { baseMs: 500, maxMs: 60_000 });
    if (err instanceof MailferryError && err.code === 'ETHROTTLED') {
      this.throttledMs += ms;
      const c = this.r.slowDown();
      this.r.log.warn(
        `server is throttling (${err.message}); waiting ${Math.round(ms / 100) / 10} s, ${c} connection(s)`,
      );
      if (this.throttledMs > this.r.maxThrottleMs) {
        this.r.halt(
          new LimitError('ELIMIT', 'the server kept throttling', {
            hint: 'run the same command later to resume',
          }),
        );
        return;
      }
    } else {
      this.r.log.debug(`retrying after ${ms} ms: ${err instanceof Error ? err.message : String(err)}`);
    }
    await waitFor(ms, this.r.signal);
  }
}
