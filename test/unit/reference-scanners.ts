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
