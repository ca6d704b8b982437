import { Transform, type TransformCallback } from 'node:stream';

/**
 * mboxrd (RFC 4155 plus the "rd" quoting convention): inside a message every line matching
 * /^>*From / gets one more '>' on the way in and loses one on the way out, so the round trip
 * is exact for any content. The state machine below holds at most the four bytes of a partial
 * "From " match (plus one '>' when unquoting), so it is correct at every chunk boundary and
 * never buffers a line: since all '>' are alike, the added or removed one can be any of the run.
 */

const FROM = Buffer.from('From ');
const GT = 0x3e;
const LF = 0x0a;
const GT_BUF = Buffer.from('>');
const QUOTED_FROM = Buffer.from('>From ');
const EMPTY = Buffer.alloc(0);

/**
 * From inside a line whose start was dealt with (at `pos`), the next line start that needs the
 * state machine: one whose line holds "From " after nothing but '>'s, else the last line start
 * of the chunk (its line may go on in the next chunk); -1 for none. Both searches are native
 * (memchr-like), so lines that cannot need quoting, nearly all of them, cost nothing in JS.
 */
function nextLineToCheck(chunk: Buffer, pos: number): number {
  for (let f = chunk.indexOf(FROM, pos); f >= 0; f = chunk.indexOf(FROM, f + 1)) {
    let q = f;
    while (q > pos && chunk[q - 1] === GT) q--;
    if (q > pos && chunk[q - 1] === LF) return q;
  }
  const nl = chunk.lastIndexOf(LF);
  return nl >= pos ? nl + 1 : -1;
}

export type QuoteMode = 'quote' | 'unquote';

export class MboxrdCodec {
  private atLineStart = true;
  /** Bytes of "From " matched (and withheld) at the current line start. */
  private matched = 0;
  private sawGt = false;
  /** Unquote: the first '>' of the line, withheld until we know whether to drop it. */
  private heldGt = false;

  constructor(private readonly mode: QuoteMode) {}

  /** Feed one chunk; returns the bytes to emit now. */
  update(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let run = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.atLineStart) {
        const next = nextLineToCheck(chunk, pos);
        if (next < 0) break;
        pos = next;
        this.startLine();
        continue;
      }
      const b = chunk[pos]!;
      if (this.matched === 0 && b === GT) {
        if (this.mode === 'unquote' && !this.sawGt) {
          if (pos > run) out.push(chunk.subarray(run, pos));
          run = pos + 1;
          this.heldGt = true;
        }
        this.sawGt = true;
        pos++;
      } else if (b === FROM[this.matched]) {
        if (this.matched === 0 && pos > run) out.push(chunk.subarray(run, pos));
        this.matched++;
        pos++;
        run = pos;
        if (this.matched === FROM.length) {
          out.push(this.resolved());
          this.atLineStart = false;
        }
      } else {
        const held = this.release();
        if (held.length) out.push(held);
        this.atLineStart = false;
      }
    }
    if (run === 0 && out.length === 0) return chunk;
    if (run < chunk.length) out.push(chunk.subarray(run));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** End of the message: whatever is still withheld goes out unchanged. */
  end(): Buffer {
    const held = this.atLineStart ? this.release() : Buffer.alloc(0);
    this.startLine();
    return held;
  }

  private startLine(): void {
    this.atLineStart = true;
    this.matched = 0;
    this.sawGt = false;
    this.heldGt = false;
  }

  private resolved(): Buffer {
    // Unquote drops the withheld '>' (if any); a bare "From " passes unchanged.
    return Buffer.from(this.mode === 'quote' ? QUOTED_FROM : FROM);
  }

  private release(): Buffer {
    if (this.matched === 0 && !this.heldGt) return EMPTY;
    const from = FROM.subarray(0, this.matched);
    const held = this.heldGt ? Buffer.concat([GT_BUF, from]) : Buffer.from(from);
    this.matched = 0;
    this.heldGt = false;
    return held;
  }
}

/** A Transform around MboxrdCodec, for piping. */
export class MboxrdTransform extends Transform {
  private readonly codec: MboxrdCodec;

  constructor(mode: QuoteMode) {
    super();
    this.codec = new MboxrdCodec(mode);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const out = this.codec.update(chunk);
    if (out.length) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    const out = this.codec.end();
    if (out.length) this.push(out);
    done();
  }
}

/** Quote or unquote a whole buffer (tests, small messages). */
export function mboxrdApply(mode: QuoteMode, data: Buffer): Buffer {
  const codec = new MboxrdCodec(mode);
  return Buffer.concat([codec.update(data), codec.end()]);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C asctime() in UTC: `Thu Aug  2 12:36:23 2002` (day of month space-padded). */
export function asctime(date: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const time = `${p2(date.getUTCHours())}:${p2(date.getUTCMinutes())}:${p2(date.getUTCSeconds())}`;
  const day = String(date.getUTCDate()).padStart(2, ' ');
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${day} ${time} ${date.getUTCFullYear()}`;
}

/** The envelope sender for a From line: the Return-Path address, else MAILER-DAEMON. */
export function envelopeSender(returnPath: string | undefined): string {
  const raw = returnPath ? (/<([^>]*)>/.exec(returnPath)?.[1] ?? returnPath) : '';
  // A From line is split on spaces: the sender must be one printable ASCII word.
  const clean = raw.trim().replace(/[^\x21-\x7e]/g, '');
  return clean || 'MAILER-DAEMON';
}

/** `From <sender> <asctime>\n`, the separator line that starts each message. */
export function formatFromLine(sender: string, date: Date): Buffer {
  return Buffer.from(`From ${sender} ${asctime(date)}\n`, 'latin1');
}

const FROM_LINE =
  /^From (\S*) +(?:\w{3},? +)?(\w{3}) +(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))?(?: +([A-Z]{3,5}|[+-]\d{4}))? +(\d{4})(?: +([+-]\d{4}))?/;

/**
 * Sender and date of a From line. Dates without a zone are taken as UTC (what mailferry and
 * most MTAs write); a numeric zone is honoured. Undefined date when it does not parse.
 */
export function parseFromLine(line: string): { sender: string; date?: Date } {
  const m = FROM_LINE.exec(line);
  if (!m) return { sender: /^From (\S*)/.exec(line)?.[1] ?? '' };
  const month = MONTHS.indexOf(m[2]!);
  if (month < 0) return { sender: m[1]! };
  const utc = Date.UTC(Number(m[8]), month, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  const zone = [m[7], m[9]].find((z) => z && /^[+-]\d{4}$/.test(z));
  const offsetMin = zone
    ? (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3)))
    : 0;
  const date = new Date(utc - offsetMin * 60_000);
  return Number.isNaN(date.getTime()) ? { sender: m[1]! } : { sender: m[1]!, date };
}

/**
 * Collects a few header fields from a header section fed line by line (unfolding
 * continuation lines), with a byte budget so a hostile header never grows memory.
 */
export class HeaderFields {
  private readonly values = new Map<string, string>();
  private current: string | undefined;
  private budget: number;
  done = false;

  constructor(
    private readonly wanted: readonly string[],
    maxBytes = 64 * 1024,
  ) {
    this.budget = maxBytes;
  }

  /** One header line without its line ending; returns false once the header section is over. */
  line(text: string): boolean {
    if (this.done) return false;
    this.budget -= text.length + 2;
    if (text === '' || this.budget < 0) {
      this.done = true;
      return false;
    }
    if (/^[ \t]/.test(text)) {
      if (this.current) this.values.set(this.current, `${this.values.get(this.current)} ${text.trim()}`);
      return true;
    }
    const colon = text.indexOf(':');
    const name = colon > 0 ? text.slice(0, colon).trim().toLowerCase() : '';
    this.current = undefined;
    if (this.wanted.includes(name) && !this.values.has(name)) {
      this.current = name;
      this.values.set(name, text.slice(colon + 1).trim());
    }
    return true;
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }
}

/**
 * Feed a buffer holding (at least the start of) a message's header to HeaderFields.
 * `complete`: the buffer is the whole message, so a last line without a line end (a header
 * that never ends, such as "...\r\nMessage-ID: <x@y>") is a field too, not a cut-off one.
 */
export function readHeaderFields(fields: HeaderFields, head: Buffer, complete = false): void {
  let pos = 0;
  while (!fields.done) {
    const nl = head.indexOf(LF, pos);
    if (nl < 0) break;
    const end = nl > pos && head[nl - 1] === 0x0d ? nl - 1 : nl;
    fields.line(head.toString('utf8', pos, end));
    pos = nl + 1;
  }
  if (complete && !fields.done && pos < head.length) fields.line(head.toString('utf8', pos));
}
