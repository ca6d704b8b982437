import { setTimeout as sleepOnce } from 'node:timers/promises';

/**
 * Node fires a timer longer than 2^31-1 ms (24.8 days) after 1 ms instead, with a warning.
 * Every delay fed from user input or a server's hint goes through here.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay a single timer can hold: NaN and negatives become 0, longer ones the maximum. */
export function timerMs(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(Math.ceil(ms), MAX_TIMER_MS);
}

/** Waits `ms` (any length, in chunks a timer can hold); rejects with the signal's reason on abort. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const until = Date.now() + (Number.isFinite(ms) ? Math.max(0, ms) : Number.MAX_SAFE_INTEGER);
  for (let left = until - Date.now(); left > 0; left = until - Date.now()) {
    await sleepOnce(timerMs(left), undefined, signal ? { signal } : undefined);
  }
}
