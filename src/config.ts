import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './errors.js';
import type { Provider } from './providers.js';
import { refuseLineBreaks } from './util/secrets.js';

/** Options shared by plan, copy and verify; built once by the CLI (or a library caller), passed down as is. */
export interface TransferOptions {
  stateDir: string;
  include: string[];
  exclude: string[];
  /** 'FROM=TO' folder renames, applied after special-use mapping. */
  map: string[];
  /** Target folder for sources without folders (POP3). */
  folder: string;
  since?: Date;
  before?: Date;
  connections: number;
  maxMessagesPerSecond?: number;
  maxBytesPerSecond?: number;
  deleteSource: boolean;
  /** POP3 → IMAP: leave messages unseen instead of \Seen. */
  unread: boolean;
  dryRun: boolean;
  /** Copy Gmail's [Gmail]/All Mail too (left out by default: its messages are the labelled ones). */
  includeAllMail: boolean;
  /** Gmail-like sources (a \All folder): labels as folders (default) or as keywords on one copy each. */
  gmailLabels: 'folders' | 'keywords';
  /** A provider preset (--provider): its connection and message size limits. */
  provider?: Provider;
  /** Retries per message on transient errors. */
  retries: number;
  /** Give up with exit 4 when throttling lasts longer than this. */
  maxThrottleMs: number;
  largeMessageBytes: number;
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'mailferry');
  return join(homedir(), '.local', 'state', 'mailferry');
}

export function defaultTransferOptions(overrides: Partial<TransferOptions> = {}): TransferOptions {
  return {
    stateDir: defaultStateDir(),
    include: [],
    exclude: [],
    map: [],
    folder: 'INBOX',
    connections: 4,
    deleteSource: false,
    unread: false,
    dryRun: false,
    includeAllMail: false,
    gmailLabels: 'folders',
    retries: 5,
    maxThrottleMs: 15 * 60_000,
    largeMessageBytes: 8 * 1024 * 1024,
    ...overrides,
  };
}

/** Parses 500k, 2M, 1.5G (powers of 1024). */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}

/** Allowed ranges of the numeric options: the --help text, the README and the checks use these. */
export const LIMITS = {
  connections: { min: 1, max: 64, integer: true },
  retries: { min: 0, max: 100, integer: true },
  // Below 0.001 a start would wait more than a quarter hour each; above, p-queue's interval
  // stays far inside what a timer can hold.
  maxMessagesPerSecond: { min: 0.001, max: 100_000, integer: false },
  maxBytesPerSecond: { min: 1, max: 1024 ** 4, integer: false },
  /** Seconds; a timer holds at most 2^31-1 ms (24.8 days), one day is plenty. */
  timeoutSeconds: { min: 1, max: 86_400, integer: false },
  maxThrottleSeconds: { min: 1, max: 7 * 86_400, integer: false },
} as const;

export type LimitName = keyof typeof LIMITS;

/** Throws a one-line usage error naming the option and its range unless n lies in it. */
export function checkRange(option: string, limit: LimitName, n: number): number {
  const { min, max, integer } = LIMITS[limit];
  const ok = Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n));
  if (ok) return n;
  throw new UsageError(`bad --${option} ${n}`, {
    hint: `give ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`,
  });
}

/**
 * Checks what the planner and the wire will use, before anything connects: ranges, and no
 * CR/LF/NUL in a name that becomes a command argument (a folder to SELECT, CREATE or APPEND to).
 */
export function checkTransferOptions(o: TransferOptions): TransferOptions {
  checkRange('connections', 'connections', o.connections);
  checkRange('retries', 'retries', o.retries);
  if (o.maxMessagesPerSecond !== undefined)
    checkRange('max-messages-per-second', 'maxMessagesPerSecond', o.maxMessagesPerSecond);
  if (o.maxBytesPerSecond !== undefined)
    checkRange('max-bytes-per-second', 'maxBytesPerSecond', o.maxBytesPerSecond);
  checkRange('max-throttle-wait', 'maxThrottleSeconds', o.maxThrottleMs / 1000);
  refuseLineBreaks('--folder', o.folder);
  for (const m of o.map) refuseLineBreaks(`--map '${m.replace(/[\r\n\0]/g, '?')}'`, m);
  for (const g of o.include) refuseLineBreaks(`--include '${g.replace(/[\r\n\0]/g, '?')}'`, g);
  for (const g of o.exclude) refuseLineBreaks(`--exclude '${g.replace(/[\r\n\0]/g, '?')}'`, g);
  return o;
}
