import { appendFileSync } from 'node:fs';
import { scrub } from './secrets.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  verbose: boolean;
  /** JSON lines, every level. */
  logFile?: string;
  /** Human lines on stderr (warnings always, info when not quiet). */
  quiet?: boolean;
  /** Secrets to scrub from every line before it is written anywhere. */
  secrets?: () => readonly string[];
  stderr?: (line: string) => void;
}

/** Replace every known secret (and anything shaped like a URL password) with ***. */
export function redact(text: string, secrets: readonly string[]): string {
  return scrub(text, secrets);
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.stderr ?? ((line: string) => process.stderr.write(`${line}\n`));
  const secrets = opts.secrets ?? (() => []);
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    const clean = redact(msg, secrets());
    if (opts.logFile) {
      const rec = JSON.stringify({ time: new Date().toISOString(), level, msg: clean, ...fields });
      appendFileSync(opts.logFile, `${redact(rec, secrets())}\n`, { mode: 0o600 });
    }
    const show = level === 'warn' || level === 'error' || (level === 'info' && !opts.quiet) || opts.verbose;
    if (show) write(`mailferry: ${level === 'info' || level === 'debug' ? '' : `${level}: `}${clean}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
