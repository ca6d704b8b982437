import { LimitError } from '../errors.js';

/** Gmail lifts its daily IMAP limits (upload 500 MB, download 2,500 MB) within a day. */
export const DAILY_RESET_MS = 24 * 3600_000;

/** Texts that name a per-day budget; said without [OVERQUOTA] they still mean the day is used up. */
const DAILY_TEXT =
  /\bdaily\b.*\b(limit|quota|budget)\b|\b(upload|bandwidth) (limit|quota) (exceeded|reached)\b/i;
/** Gmail's wording; with [OVERQUOTA] it is the day's bandwidth, with [LIMIT] or [ALERT] a short burst. */
const GMAIL_TEXT = /account exceeded command or bandwidth limits/i;

/**
 * A server's answer that this account's transfer budget for the day is spent: waiting minutes
 * does not help, so the run stops (exit 4) saying when a re-run can go on. The checkpoint
 * keeps everything stored so far.
 */
export function dailyLimit(
  code: string,
  text: string,
  host: string,
  now = Date.now(),
): LimitError | undefined {
  const daily = (code === 'OVERQUOTA' && GMAIL_TEXT.test(text)) || DAILY_TEXT.test(text);
  if (!daily) return undefined;
  const resume = new Date(now + DAILY_RESET_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return new LimitError('ELIMIT', `${host} stopped this account's transfers for the day: ${text}`, {
    hint: `the limit lifts within 24 hours: run the same command again after ${resume} to resume`,
    retryAfterMs: DAILY_RESET_MS,
  });
}
