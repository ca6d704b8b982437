/**
 * The byte-at-a-time scanners as they were before they jumped with indexOf, kept only as the
 * oracle for test/unit/byte-scanners.test.ts: the fast versions must give the same bytes.
 */

/** Old normalizeChunk: looks at every byte. */
export function normalizeChunkPerByte(chunk: Buffer, prevCR: boolean): Buffer {
  const out: number[] = [];
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (b === 0x0a && !(i === 0 ? prevCR : chunk[i - 1] === 0x0d)) out.push(0x0d);
    out.push(b);
  }
  return Buffer.from(out);
}

const FROM = Buffer.from('From ');
const GT = 0x3e;
const LF = 0x0a;

/** Old MboxrdCodec: the same state machine, moving from LF to LF. */
export class MboxrdPerLine {
  private atLineStart = true;
  private matched = 0;
  private sawGt = false;
  private heldGt = false;

  constructor(private readonly mode: 'quote' | 'unquote') {}

  update(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let run = 0;
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.atLineStart) {
        const nl = chunk.indexOf(LF, pos);
        if (nl < 0) break;
        pos = nl + 1;
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
          out.push(Buffer.from(this.mode === 'quote' ? '>From ' : 'From '));
          this.atLineStart = false;
        }
      } else {
        out.push(this.release());
        this.atLineStart = false;
      }
    }
    if (run < chunk.length) out.push(chunk.subarray(run));
    return Buffer.concat(out);
  }

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

  private release(): Buffer {
    const from = FROM.subarray(0, this.matched);
    const held = this.heldGt ? Buffer.concat([Buffer.from('>'), from]) : Buffer.from(from);
    this.matched = 0;
    this.heldGt = false;
    return held;
  }
}

const CR = 0x0d;
const DOT = 0x2e;
const CR_ONLY = Buffer.from([CR]);

enum State {
  /** Right after CRLF (or at the start of the body). */
  LineStart,
  /** Inside a line. */
  Mid,
  /** A dot at line start was seen and dropped. */
  Dot,
  /** ".\r" at line start: the CR is held back until we know whether LF follows. */
  DotCr,
}

/** Old DotDecoder: moves from LF to LF. */
export class DotDecoderPerLine {
  private state = State.LineStart;
  /** Whether the last byte of the previous chunk was CR, for a CRLF split across chunks. */
  private carryCr = false;

  /**
   * Decode `chunk` from `from`, handing each run of message bytes to `emit` (views into
   * `chunk`, never copies). Returns the index just after the terminator, or -1 if the body
   * goes on in the next chunk.
   */
  decode(chunk: Buffer, from: number, emit: (bytes: Buffer) => void): number {
    const len = chunk.length;
    let i = from;
    let seg = from;
    const flush = (to: number) => {
      if (to > seg) emit(chunk.subarray(seg, to));
    };
    while (i < len) {
      if (this.state === State.Mid) {
        const nl = chunk.indexOf(LF, i);
        if (nl < 0) {
          i = len;
          break;
        }
        const crBefore = nl > from ? chunk[nl - 1] === CR : this.carryCr;
        if (crBefore) this.state = State.LineStart;
        i = nl + 1;
      } else if (this.state === State.LineStart) {
        if (chunk[i] === DOT) {
          flush(i);
          i++;
          seg = i;
          this.state = State.Dot;
        } else {
          this.state = State.Mid;
        }
      } else if (this.state === State.Dot) {
        if (chunk[i] === CR) {
          i++;
          seg = i;
          this.state = State.DotCr;
        } else {
          this.state = State.Mid;
        }
      } else if (chunk[i] === LF) {
        this.reset();
        return i + 1;
      } else {
        // ".\r" followed by something else: the dot was stuffing, the CR is content.
        emit(CR_ONLY);
        this.state = State.Mid;
      }
    }
    flush(len);
    if (len > from) this.carryCr = chunk[len - 1] === CR;
    return -1;
  }

  reset(): void {
    this.state = State.LineStart;
    this.carryCr = false;
  }
}
