import { appendFileSync } from 'node:fs';
import type { TransferRequest } from '../commands/common.js';
import { checkRange, type LimitName, parseByteSize } from '../config.js';
import { SecretRegistry, terminalPrompt } from '../credentials.js';
import { UsageError } from '../errors.js';
import type { Provider } from '../providers.js';
import type { ProgressMode } from '../run/progress.js';
import { pathError } from '../util/fs-errors.js';
import { createLogger } from '../util/log.js';

/** What yargs hands over; turned once into a typed, validated request. */
export interface CliArgs {
  source: string;
  sink: string;
  include?: string[];
  exclude?: string[];
  map?: string[];
  folder?: string;
  since?: string;
  before?: string;
  connections?: number;
  'max-messages-per-second'?: number;
  'max-bytes-per-second'?: string;
  'delete-source'?: boolean;
  unread?: boolean;
  'include-all-mail'?: boolean;
  'gmail-labels'?: 'folders' | 'keywords';
  provider?: Provider;
  'large-message'?: string;
  'dry-run'?: boolean;
  retries?: number;
  'max-throttle-wait'?: number;
  progress?: ProgressMode;
  'source-password-file'?: string;
  'sink-password-file'?: string;
  'source-oauth2-command'?: string;
  'sink-oauth2-command'?: string;
  'source-auth-user'?: string;
  'sink-auth-user'?: string;
  'state-dir'?: string;
  'ca-file'?: string[];
  insecure?: boolean;
  'allow-plaintext'?: boolean;
  timeout?: number;
  json?: boolean;
  'log-file'?: string;
  verbose?: boolean;
}

function parseDate(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime()))
    throw new UsageError(`bad --${name} '${text}'`, { hint: 'write a date like 2024-01-31' });
  return d;
}

function parseSize(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = parseByteSize(text);
  if (n === undefined || n <= 0)
    throw new UsageError(`bad --${name} '${text}'`, { hint: 'write a size like 500k or 2M' });
  return n;
}

function inRange(name: string, limit: LimitName, n: number | undefined): number | undefined {
  return n === undefined ? undefined : checkRange(name, limit, n);
}

/** A log file that cannot be written would otherwise fail at the first line logged, mid-run. */
function checkLogFile(file: string): void {
  try {
    appendFileSync(file, '', { mode: 0o600 });
  } catch (err) {
    throw pathError(err, `write the --log-file ${file}`);
  }
}

/** `secrets` is shared with the CLI, which scrubs its report and final error line with it. */
export function toRequest(
  a: Partial<CliArgs>,
  signal: AbortSignal,
  secrets = new SecretRegistry(),
): TransferRequest {
  if (a['log-file']) checkLogFile(a['log-file']);
  const log = createLogger({ verbose: !!a.verbose, logFile: a['log-file'], secrets: () => secrets.list() });
  if (a.insecure)
    log.warn('--insecure: TLS certificates are not verified; anyone on the path can read this session');
  const req: TransferRequest = {
    log,
    secrets,
    signal,
    env: process.env,
    prompt: terminalPrompt(),
    insecure: !!a.insecure,
    allowPlaintext: !!a['allow-plaintext'],
    timeoutMs: (inRange('timeout', 'timeoutSeconds', a.timeout) ?? 60) * 1000,
    progress: a.json ? 'none' : (a.progress ?? 'auto'),
    sourceCredentials: {
      passwordFile: a['source-password-file'],
      oauth2Command: a['source-oauth2-command'],
      authUser: a['source-auth-user'],
    },
    sinkCredentials: {
      passwordFile: a['sink-password-file'],
      oauth2Command: a['sink-oauth2-command'],
      authUser: a['sink-auth-user'],
    },
    include: a.include ?? [],
    exclude: a.exclude ?? [],
    map: a.map ?? [],
    folder: a.folder,
    since: parseDate('since', a.since),
    before: parseDate('before', a.before),
    connections: inRange('connections', 'connections', a.connections),
    maxMessagesPerSecond: inRange(
      'max-messages-per-second',
      'maxMessagesPerSecond',
      a['max-messages-per-second'],
    ),
    maxBytesPerSecond: parseSize('max-bytes-per-second', a['max-bytes-per-second']),
    largeMessageBytes: parseSize('large-message', a['large-message']),
    deleteSource: !!a['delete-source'],
    unread: !!a.unread,
    includeAllMail: !!a['include-all-mail'],
    gmailLabels: a['gmail-labels'],
    provider: a.provider,
    dryRun: !!a['dry-run'],
  };
  if (a.retries !== undefined) req.retries = checkRange('retries', 'retries', a.retries);
  const wait = inRange('max-throttle-wait', 'maxThrottleSeconds', a['max-throttle-wait']);
  if (wait !== undefined) req.maxThrottleMs = wait * 1000;
  if (a['ca-file']) req.caFile = a['ca-file'];
  if (a['state-dir']) req.stateDir = a['state-dir'];
  return req;
}
