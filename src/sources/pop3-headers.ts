/** What POP3 identify() learns from a message's header block (TOP n 0). */
export interface HeaderIdentity {
  messageId?: string;
  internalDate?: Date;
}

/**
 * POP3 has no INTERNALDATE, so we derive one the way a delivering IMAP server would have set
 * it: the date of the newest Received header (the topmost one, added by the last hop, which is
 * the final delivery), else the Date header, else undefined and the executor uses "now".
 * Lower Received headers are skipped on purpose: they may be forged or carry skewed clocks.
 */
export function parseIdentity(headerBytes: Buffer): HeaderIdentity {
  const headers = unfold(headerBlock(headerBytes).toString('utf8'));
  const out: HeaderIdentity = {};
  const msgId = headers.find((h) => h.name === 'message-id')?.value;
  if (msgId) {
    const id = /<([^<>]+)>/.exec(msgId)?.[1] ?? msgId.trim().split(/\s+/)[0];
    if (id) out.messageId = id;
  }
  const received = headers.find((h) => h.name === 'received');
  const fromReceived = received
    ? parseDate(received.value.slice(received.value.lastIndexOf(';') + 1))
    : undefined;
  const date = headers.find((h) => h.name === 'date')?.value;
  out.internalDate = fromReceived ?? (date ? parseDate(date) : undefined);
  if (!out.internalDate) delete out.internalDate;
  return out;
}

/** The bytes up to the first empty line (TOP n 0 returns exactly that, plus the blank line). */
function headerBlock(bytes: Buffer): Buffer {
  const crlf = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  const ends = [crlf, lf].filter((i) => i >= 0);
  return ends.length ? bytes.subarray(0, Math.min(...ends)) : bytes;
}

function unfold(text: string): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const line of text.split(/\r?\n/)) {
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
