import { normalizeMessageId } from './plan/identity.js';

/**
 * The few header fields mailferry reads (Message-ID, Date, Received), taken from a header
 * block the same way on every side, so a message has one identity wherever it is read.
 */

/** The bytes before the first empty line. */
export function headerBlock(bytes: Buffer): Buffer {
  const crlf = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  return ends.length ? bytes.subarray(0, Math.min(...ends)) : bytes;
}

/** Unfolded fields in order; names lower-cased. Latin-1 keeps 8-bit bytes one char each. */
export function headerFields(bytes: Buffer): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const line of headerBlock(bytes).toString('latin1').split(/\r?\n/)) {
    const last = out[out.length - 1];
    if (/^[ \t]/.test(line) && last) {
      last.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return out;
}

export function headerValue(bytes: Buffer, name: string): string | undefined {
  return headerFields(bytes).find((h) => h.name === name)?.value;
}

export function messageIdOf(bytes: Buffer | undefined): string | undefined {
  return bytes?.length ? normalizeMessageId(headerValue(bytes, 'message-id')) : undefined;
}

/** RFC 5322 dates, tolerating comments such as "(CEST)"; undefined when unreadable. */
export function parseDate(text: string): Date | undefined {
  const clean = text
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!clean) return undefined;
  const ms = Date.parse(clean);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
