import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CrlfHasher } from '../../mail/hash.js';
import { messageIdOf } from '../../mail/headers.js';
import type { AppendInput, AppendResult, MessageMeta } from '../../types.js';
import { mapFsError } from '../../util/fs-errors.js';
import { fileName, lettersOf, uniqueName } from './filename.js';
import type { MaildirEntry, MaildirFolder } from './folder.js';

const HEAD_BYTES = 64 * 1024;

/** Wraps an error of the message body, so it is not mistaken for a disk error. */
class BodyError extends Error {
  constructor(readonly original: unknown) {
    super('the message body failed');
  }
}

/**
 * Deliver one message the Maildir way: stream into tmp/, set the mtime to the internal date,
 * fsync, rename into cur/ with its flags, fsync cur/. Resolves only once all of that is done,
 * so a message the caller hears of survives a crash; a kill before the rename leaves only a
 * file in tmp/, which the next open removes.
 */
export async function deliver(
  folder: MaildirFolder,
  input: AppendInput,
): Promise<{ result: AppendResult; entry: MaildirEntry }> {
  const unique = uniqueName();
  const tmpPath = join(folder.dir, 'tmp', unique);
  try {
    const written = await writeTmp(tmpPath, input);
    const { letters, dropped } = lettersOf(input.flags, (k) => folder.keywordIndex(k));
    await folder.keywordsDurable();
    const name = fileName(unique, written.fileSize, written.crlfSize, letters);
    await rename(tmpPath, join(folder.dir, 'cur', name));
    await folder.cur.sync();
    const meta: MessageMeta = {
      id: unique,
      size: written.crlfSize,
      flags: input.flags.filter((f) => !dropped.includes(f) && f.toLowerCase() !== '\\recent'),
      internalDate: written.date,
      sha256: written.sha256,
    };
    const messageId = input.meta.messageId ?? messageIdOf(written.head);
    if (messageId) meta.messageId = messageId;
    const result: AppendResult = { id: unique, sha256: written.sha256 };
    if (dropped.length) result.droppedFlags = dropped;
    return { result, entry: { meta, file: `cur/${name}` } };
  } catch (err) {
    input.body.destroy();
    await unlink(tmpPath).catch(() => undefined);
    throw err instanceof BodyError
      ? err.original
      : mapFsError(err, `writing to Maildir folder ${folder.dir}`);
  }
}

interface Written {
  fileSize: number;
  crlfSize: number;
  sha256: string;
  head: Buffer;
  date: Date;
}

async function writeTmp(path: string, input: AppendInput): Promise<Written> {
  const fh = await open(path, 'wx', 0o600);
  try {
    const hasher = new CrlfHasher();
    let fileSize = 0;
    const head: Buffer[] = [];
    let headBytes = 0;
    const it = input.body[Symbol.asyncIterator]();
    for (;;) {
      let r: IteratorResult<Buffer | string>;
      try {
        r = await it.next();
      } catch (err) {
        throw new BodyError(err);
      }
      if (r.done) break;
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value;
      if (!chunk.length) continue;
      hasher.update(chunk);
      if (headBytes < HEAD_BYTES) {
        head.push(chunk.subarray(0, HEAD_BYTES - headBytes));
        headBytes += Math.min(chunk.length, HEAD_BYTES - headBytes);
      }
      await fh.write(chunk, 0, chunk.length, fileSize);
      fileSize += chunk.length;
    }
    const date = input.internalDate ?? input.meta.internalDate ?? new Date();
    await fh.utimes(date, date);
    await fh.sync();
    return { fileSize, crlfSize: hasher.bytes, sha256: hasher.digest(), head: Buffer.concat(head), date };
  } finally {
    await fh.close();
  }
}
