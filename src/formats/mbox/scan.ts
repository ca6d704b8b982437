import { createReadStream } from 'node:fs';
import { FolderError } from '../../errors.js';
import { normalizeMessageId } from '../../mail/message-id.js';
import { HeaderFields, parseFromLine } from './mboxrd.js';

/**
 * One streaming pass over a plain mbox (mailferry's, Thunderbird's, Google Takeout's, mutt's):
 * a message starts at a "From " line at the file start or after a blank line. Memory holds
 * one bounded line prefix at a time plus a small record per message, whatever the file size.
 * Contents are taken as mboxrd: sizes count one '>' less on each /^>+From / line.
 */

export interface ScannedMessage {
  /** Offset of the From line. */
  offset: number;
  /** First byte after the From line. */
  start: number;
  /** Stored (quoted) bytes from `start`, without the separating blank line. */
  stored: number;
  /** CRLF-normalised size after unquoting. */
  size: number;
  messageId?: string;
  internalDate?: Date;
  flags: string[];
}

interface Line {
  offset: number;
  /** The first PREFIX_CAP bytes of the line, line ending included when it fits. */
  prefix: Buffer;
  length: number;
  lf: boolean;
  crlf: boolean;
}

const PREFIX_CAP = 4096;
const WANTED = ['message-id', 'date', 'status', 'x-status', 'x-mozilla-status'];

interface Current {
  msg: ScannedMessage;
  fields: HeaderFields;
  fromDate?: Date;
  quoted: number;
  bareLf: number;
  last?: Line;
}

/** Scan `path` from `from` (a From line or the end of the file); returns the messages found. */
export async function scanMbox(path: string, from = 0): Promise<ScannedMessage[]> {
  const out: ScannedMessage[] = [];
  let cur: Current | undefined;
  let prevBlank = true;
  await forEachLine(path, from, (line) => {
    const blank = line.lf && line.length === (line.crlf ? 2 : 1);
    if (prevBlank && startsWith(line.prefix, 'From ')) {
      if (cur) out.push(finish(cur, line.offset));
      cur = begin(line);
    } else if (!cur) {
      throw new FolderError(
        'EFOLDER',
        `${path} is not an mbox file: no "From " line at byte ${line.offset}`,
        {
          hint: 'an mbox file starts with a "From " line; point mailferry at the right file',
        },
      );
    } else {
      if (!cur.fields.done) cur.fields.line(lineText(line));
      if (/^>+From /.test(line.prefix.toString('latin1', 0, Math.min(64, line.prefix.length)))) cur.quoted++;
      if (line.lf && !line.crlf) cur.bareLf++;
      cur.last = line;
    }
    prevBlank = blank;
  }).then((end) => {
    if (cur) out.push(finish(cur, end));
  });
  return out;
}

function begin(line: Line): Current {
  const start = line.offset + line.length;
  const msg: ScannedMessage = { offset: line.offset, start, stored: 0, size: 0, flags: [] };
  const fromDate = parseFromLine(lineText(line)).date;
  return { msg, fields: new HeaderFields(WANTED), fromDate, quoted: 0, bareLf: 0 };
}

function finish(cur: Current, end: number): ScannedMessage {
  const { msg, fields, last } = cur;
  let stored = end - msg.start;
  let bareLf = cur.bareLf;
  // The blank line before the next From line (or at the end of the file) is the separator.
  if (last && last.offset + last.length === end && last.lf && last.length === (last.crlf ? 2 : 1)) {
    stored -= last.length;
    if (!last.crlf) bareLf--;
  }
  msg.stored = stored;
  msg.size = stored - cur.quoted + bareLf;
  const messageId = normalizeMessageId(fields.get('message-id'));
  if (messageId) msg.messageId = messageId;
  const date = cur.fromDate ?? headerDate(fields.get('date'));
  if (date) msg.internalDate = date;
  msg.flags = flagsFromHeaders(fields);
  return msg;
}

/**
 * Flags from the headers mail programs keep in mbox files: `Status:` (R seen), `X-Status:`
 * (A answered, F flagged, T draft, D deleted) and Thunderbird's `X-Mozilla-Status:` bits.
 */
export function flagsFromHeaders(fields: Pick<HeaderFields, 'get'>): string[] {
  const flags = new Set<string>();
  const status = fields.get('status') ?? '';
  const xStatus = fields.get('x-status') ?? '';
  if (status.includes('R')) flags.add('\\Seen');
  if (xStatus.includes('A')) flags.add('\\Answered');
  if (xStatus.includes('F')) flags.add('\\Flagged');
  if (xStatus.includes('T')) flags.add('\\Draft');
  if (xStatus.includes('D')) flags.add('\\Deleted');
  const moz = Number.parseInt(fields.get('x-mozilla-status') ?? '', 16);
  if (Number.isFinite(moz)) {
    if (moz & 0x0001) flags.add('\\Seen');
    if (moz & 0x0002) flags.add('\\Answered');
    if (moz & 0x0004) flags.add('\\Flagged');
    if (moz & 0x0008) flags.add('\\Deleted');
    if (moz & 0x1000) flags.add('$Forwarded');
  }
  return [...flags];
}

function headerDate(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const d = new Date(text.replace(/\s*\([^)]*\)\s*$/, ''));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function startsWith(buf: Buffer, text: string): boolean {
  return buf.length >= text.length && buf.toString('latin1', 0, text.length) === text;
}

function lineText(line: Line): string {
  let end = line.prefix.length;
  if (line.length === end && line.lf) end -= line.crlf ? 2 : 1;
  return line.prefix.toString('utf8', 0, end);
}

/** Calls `onLine` for each line from `from`; returns the offset of the end of the file. */
async function forEachLine(path: string, from: number, onLine: (line: Line) => void): Promise<number> {
  let offset = from;
  let parts: Buffer[] = [];
  let kept = 0;
  let length = 0;
  let lastByte = -1;
  const emit = (lf: boolean, crlf: boolean) => {
    onLine({ offset, prefix: parts.length === 1 ? parts[0]! : Buffer.concat(parts), length, lf, crlf });
    offset += length;
    parts = [];
    kept = length = 0;
  };
  for await (const chunk of createReadStream(path, {
    start: from,
    highWaterMark: 256 * 1024,
  }) as AsyncIterable<Buffer>) {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const stop = nl < 0 ? chunk.length : nl + 1;
      if (kept < PREFIX_CAP) {
        // Copy the bounded prefix so the big read chunk is not kept alive.
        const piece = Buffer.from(chunk.subarray(pos, Math.min(stop, pos + PREFIX_CAP - kept)));
        parts.push(piece);
        kept += piece.length;
      }
      length += stop - pos;
      if (nl >= 0) {
        const crlf = nl > pos ? chunk[nl - 1] === 0x0d : lastByte === 0x0d;
        lastByte = 0x0a;
        emit(true, crlf);
      } else {
        lastByte = chunk[chunk.length - 1]!;
      }
      pos = stop;
    }
  }
  if (length > 0) emit(false, false);
  return offset;
}
