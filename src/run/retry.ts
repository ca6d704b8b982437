import { MailferryError } from '../errors.js';
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
