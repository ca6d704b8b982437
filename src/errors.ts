/**
 * Error classes say how much broke (one message, a folder, a whole store, or the run),
 * whether a retry may help, and which exit code the CLI gives. The CLI maps them in one place.
 */
export type ErrorScope = 'message' | 'folder' | 'store' | 'fatal';

export interface MailferryErrorOptions {
  /** What the user can do about it; printed in parentheses. */
  hint?: string;
  retryable?: boolean;
  cause?: unknown;
  /** Server-suggested wait before retrying (throttling). */
  retryAfterMs?: number;
}

export class MailferryError extends Error {
  readonly code: string;
  readonly scope: ErrorScope;
  readonly exitCode: number;
  readonly hint?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;

  constructor(
    code: string,
    scope: ErrorScope,
    exitCode: number,
    message: string,
    options: MailferryErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.scope = scope;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Bad URL, unknown option, unreadable file, corrupt checkpoint: exit 2. */
export class UsageError extends MailferryError {
  constructor(message: string, options: MailferryErrorOptions = {}) {
    super('EUSAGE', 'fatal', 2, message, options);
  }
}

export type ConnectionErrorCode =
  | 'ENOTFOUND'
  | 'ECONNREFUSED'
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'ECLOSED'
  | 'ECERT'
  | 'EAUTH'
  | 'EPLAINTEXT'
  | 'EPROTOCOL'
  | 'ETHROTTLED';

/** Cannot connect to, authenticate with, or trust a server: exit 3. Resets and timeouts are retryable. */
export class ConnectionError extends MailferryError {
  constructor(code: ConnectionErrorCode, message: string, options: MailferryErrorOptions = {}) {
    const retryable =
      options.retryable ??
      (code === 'ECONNRESET' || code === 'ECLOSED' || code === 'ETIMEDOUT' || code === 'ETHROTTLED');
    super(code, 'store', 3, message, { ...options, retryable });
  }
}

/** A sink limit stopped the run (quota full, daily limit): exit 4, resumable. */
export class LimitError extends MailferryError {
  constructor(code: 'EQUOTA' | 'ELIMIT', message: string, options: MailferryErrorOptions = {}) {
    super(code, 'store', 4, message, options);
  }
}

/** One message failed (rejected, too big, vanished); the run goes on and exits 1. */
export class MessageError extends MailferryError {
  constructor(
    code: 'EREJECTED' | 'ETOOBIG' | 'EGONE' | 'EMISMATCH' | 'EUNSAFE' | 'ESTALLED',
    message: string,
    options: MailferryErrorOptions = {},
  ) {
    super(code, 'message', 1, message, options);
  }
}

/** A folder could not be read or created; its messages are reported, the run goes on and exits 1. */
export class FolderError extends MailferryError {
  constructor(code: 'EFOLDER' | 'ENOFOLDER', message: string, options: MailferryErrorOptions = {}) {
    super(code, 'folder', 1, message, options);
  }
}

/** Ctrl-C or SIGTERM: exit 130 after the checkpoint is saved. */
export class InterruptedError extends MailferryError {
  constructor() {
    super('EINTR', 'fatal', 130, 'interrupted', {
      hint: 'the checkpoint is saved; run the same command to resume',
    });
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof MailferryError && err.retryable;
}

/** One line for stderr: `mailferry: <what failed>: <why> (<what to do>)`. */
export function formatError(context: string, err: unknown): string {
  if (err instanceof MailferryError) {
    const hint = err.hint ? ` (${err.hint})` : '';
    return `mailferry: ${context}: ${err.message}${hint}`;
  }
  const msg = err instanceof Error ? err.message : String(err);
  return `mailferry: ${context}: ${msg.split('\n')[0]} (run with --verbose for details)`;
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof MailferryError) return err.exitCode;
  return 1;
}
