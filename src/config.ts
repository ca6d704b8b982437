import { homedir } from 'node:os';
import { join } from 'node:path';

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
