import { timerMs } from '../util/timers.js';

const MAX_STATUS_LINE = 64 * 1024;

/**
 * Assembles one status line from socket chunks, however they are cut. A line longer than
 * 64 KiB is refused: no honest server sends one, and it must not grow memory without end.
 */
export class StatusLine {
  private parts: Buffer[] = [];
  private length = 0;

  /** Reads from `off` up to the end of a line; `line` is set (without CRLF) once one is whole. */
  read(chunk: Buffer, off: number): { line?: string; next: number } | 'too long' {
    const nl = chunk.indexOf(0x0a, off);
    const piece = chunk.subarray(off, nl < 0 ? chunk.length : nl);
    this.length += piece.length;
    if (this.length > MAX_STATUS_LINE) return 'too long';
    this.parts.push(piece);
    if (nl < 0) return { next: chunk.length };
    const line = Buffer.concat(this.parts).toString('latin1').replace(/\r$/, '');
    this.parts = [];
    this.length = 0;
    return { line, next: nl + 1 };
  }
}

/** Fires `onIdle` when nothing arrived for `ms` while a reply was awaited. */
export class IdleTimer {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {}

  /** Starts the wait again while `waiting`; stops it otherwise. */
  refresh(waiting: boolean): void {
    if (!waiting) this.clear();
    else if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onIdle, timerMs(this.ms));
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
