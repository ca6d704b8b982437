import { FolderError, LimitError, MailferryError } from '../../errors.js';

/** Disk full is a sink limit (exit 4, resumable); other file errors fail the folder. */
export function mapFsError(err: unknown, what: string): unknown {
  if (err instanceof MailferryError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') {
    return new LimitError('EQUOTA', `${what}: the disk is full`, {
      hint: 'free some space, then run again',
      cause: err,
    });
  }
  if (typeof e?.code === 'string' && typeof e.syscall === 'string') {
    return new FolderError('EFOLDER', `${what}: ${e.message}`, { cause: err });
  }
  return err;
}
