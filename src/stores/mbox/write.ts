import {
  envelopeSender,
  formatFromLine,
  HeaderFields,
  MboxrdCodec,
  readHeaderFields,
} from '../../formats/mbox/mboxrd.js';
import type { SidecarMessage } from '../../formats/mbox/sidecar.js';
import { CrlfHasher } from '../../mail/hash.js';
import { peekHeader } from '../../mail/headers.js';
import { normalizeMessageId } from '../../mail/message-id.js';
import type { AppendInput } from '../../types.js';
import { mapFsError } from '../../util/fs-errors.js';
import type { MboxFolder } from './folder.js';

/** Headers we look at before writing the From line; a longer header just gets MAILER-DAEMON. */
const HEAD_PEEK_BYTES = 64 * 1024;
const LF = 0x0a;

/**
 * Stream one message into the folder: From line, quoted bytes, separator. Returns its
 * sidecar record; the caller syncs and journals it. On failure the partial bytes are cut off.
 */
export async function writeMessage(f: MboxFolder, input: AppendInput): Promise<SidecarMessage> {
  const offset = f.end;
  try {
    return await writeBody(f, input);
  } catch (err) {
    input.body.destroy();
    await f.discardFrom(offset).catch(() => undefined);
    // A failing body is the source's error (retryable or not, the source decides): pass it on.
    throw err instanceof BodyError ? err.original : mapFsError(err, `writing to ${f.mboxPath}`);
  }
}

/** Wraps an error thrown by the message body, so it is not mistaken for a disk error. */
class BodyError extends Error {
  constructor(readonly original: unknown) {
    super('the message body failed');
  }
}

type Next = () => Promise<IteratorResult<Buffer | string>>;

function bodyReader(body: AsyncIterable<Buffer | string>): Next {
  const it = body[Symbol.asyncIterator]();
  return async () => {
    try {
      return await it.next();
    } catch (err) {
      throw new BodyError(err);
    }
  };
}

async function writeBody(f: MboxFolder, input: AppendInput): Promise<SidecarMessage> {
  const offset = f.end;
  const peeked = await peekHeader(input.body, HEAD_PEEK_BYTES).catch((err: unknown) => {
    throw new BodyError(err);
  });
  const next = bodyReader(peeked.stream);
  const fields = new HeaderFields(['return-path', 'date', 'message-id']);
  // Shorter than the cap, the peek ended at the empty line or at the end of the message.
  readHeaderFields(fields, peeked.head, peeked.head.length < HEAD_PEEK_BYTES);
  const date = input.internalDate ?? input.meta.internalDate ?? parseDate(fields.get('date')) ?? new Date();
  await f.write(formatFromLine(envelopeSender(fields.get('return-path')), date));
  const start = f.end;
  const codec = new MboxrdCodec('quote');
  const hasher = new CrlfHasher();
  let rawSize = 0;
  let last = LF;
  const feed = async (chunk: Buffer) => {
    if (!chunk.length) return;
    hasher.update(chunk);
    rawSize += chunk.length;
    last = chunk[chunk.length - 1]!;
    await f.write(codec.update(chunk));
  };
  // The peeked header bytes were put back: the stream yields the whole message.
  for (let r = await next(); !r.done; r = await next()) await feed(toBuffer(r.value));
  await f.write(codec.end());
  const stored = f.end - start;
  // A blank line ends every message; one without a final newline gets one first.
  await f.write(Buffer.from(last === LF ? '\n' : '\n\n'));
  const rec: SidecarMessage = {
    type: 'msg',
    id: String(offset),
    offset,
    start,
    stored,
    end: f.end,
    size: hasher.bytes,
    rawSize,
    sha256: hasher.digest(),
    sourceId: input.meta.id,
    flags: [...input.flags],
  };
  const messageId = input.meta.messageId ?? normalizeMessageId(fields.get('message-id'));
  if (messageId) rec.messageId = messageId;
  const internal = input.internalDate ?? input.meta.internalDate;
  if (internal) rec.internalDate = internal.toISOString();
  return rec;
}

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

function parseDate(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const d = new Date(text.replace(/\s*\([^)]*\)\s*$/, ''));
  return Number.isNaN(d.getTime()) ? undefined : d;
}
