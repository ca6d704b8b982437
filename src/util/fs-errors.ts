import { FolderError, LimitError, MailferryError, UsageError } from '../errors.js';

/** Errors that mean "this path cannot be used as given", not a fault while running. */
const PATH_CODES = new Set([
  'EACCES',
  'EPERM',
  'ENOTDIR',
  'ENOENT',
  'EISDIR',
  'EROFS',
  'ELOOP',
  'ENAMETOOLONG',
]);

/**
 * A path the user named (state directory, mbox directory, zip archive, log file) that cannot
 * be read, created or written is a configuration error: exit 2 and one line, as the README says.
 * Any other error is returned unchanged.
 */
export function pathError(err: unknown, what: string, hint = 'check the path and its permissions'): unknown {
  if (err instanceof MailferryError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !PATH_CODES.has(code)) return err;
  return new UsageError(`cannot ${what}: ${code}`, { hint, cause: err });
}

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
