/**
 * Decoder for the body of a POP3 multi-line reply (RFC 1939 section 3): removes the stuffed
 * dot at the start of a line and stops at the terminating "." line. It keeps state between
 * chunks, so a reply split at any byte boundary decodes the same. Only CRLF ends a line: a bare
 * LF is message content, as the server that stuffed the dots also sees it.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CR_ONLY = Buffer.from([CR]);
const CRLF_DOT = Buffer.from('\r\n.', 'latin1');

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

export class DotDecoder {
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
        i = this.skipToDotLine(chunk, from, i);
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

  /**
   * In Mid state from `i`: only a line starting with a dot needs the state machine, so jump to
   * the next "\r\n." (a native search; lines between need nothing). Without one, the chunk's
   * end decides: after a CRLF it is a line start. A CRLF split across chunks is seen through
   * carryCr. Returns where to go on; `len` when the chunk is done.
   */
  private skipToDotLine(chunk: Buffer, from: number, i: number): number {
    const len = chunk.length;
    if (i === from && this.carryCr && chunk[i] === LF) {
      this.state = State.LineStart;
      return i + 1;
    }
    const at = chunk.indexOf(CRLF_DOT, i);
    if (at >= 0) {
      this.state = State.LineStart;
      return at + 2;
    }
    const lineStartAtEnd = len - 2 >= i && chunk[len - 1] === LF && chunk[len - 2] === CR;
    if (lineStartAtEnd) this.state = State.LineStart;
    return len;
  }

  reset(): void {
    this.state = State.LineStart;
    this.carryCr = false;
  }
}
