import type { SideCredentials, TransferRequest } from '../commands/common.js';
import { copy } from '../commands/copy.js';
import { verify } from '../commands/verify.js';
import { exitCodeOf, MailferryError, UsageError } from '../errors.js';
import { Counters } from '../run/progress.js';
import type { BatchAccount, CredentialRef } from './accounts.js';

/** Where a pair stands; the last five are final for this run. */
export type PairState =
  | 'queued'
  | 'waiting'
  | 'running'
  | 'quota-wait'
  | 'done'
  | 'failed'
  | 'unreachable'
  | 'quota'
  | 'invalid'
  | 'interrupted'
  | 'error';

export interface PairFailure {
  folder: string;
  id: string;
  code: string;
  reason: string;
}

/** One account's line in the batch report. */
export interface PairResult {
  id: string;
  name: string;
  line: number;
  source: string;
  sink: string;
  state: PairState;
  exitCode: number;
  planned: number;
  copied: number;
  alreadyPresent: number;
  failed: PairFailure[];
  bytes: number;
  seconds: number;
  attempts: number;
  verified?: boolean;
  /** Why the pair stopped, one line (no secret: copy's report and errors are scrubbed). */
  message?: string;
  worker?: string;
}

export interface PairSettings {
  /** Connection, TLS, state and rate settings shared by every pair. */
  base: TransferRequest;
  connections: number;
  verify: boolean;
}

const PASSWORD_VARS = ['MAILFERRY_SOURCE_PASSWORD', 'MAILFERRY_SINK_PASSWORD'];

function side(
  ref: CredentialRef | undefined,
  env: NodeJS.ProcessEnv,
  own: NodeJS.ProcessEnv,
  variable: string,
  where: string,
): SideCredentials {
  if (!ref) return {};
  if (ref.kind === 'file') return { passwordFile: ref.path };
  if (ref.kind === 'oauth2') return { oauth2Command: ref.command };
  const value = env[ref.name];
  if (value === undefined || value === '')
    throw new UsageError(`${where}: env:${ref.name} is not set`, {
      hint: `export ${ref.name} before the batch`,
    });
  own[variable] = value;
  return {};
}

/**
 * The credentials of one pair as copy() takes them. A password named by env:NAME goes to the
 * library in memory, under the variable copy() reads; nothing is spawned with it.
 */
export function pairCredentials(a: BatchAccount, env: NodeJS.ProcessEnv): Partial<TransferRequest> {
  const own: NodeJS.ProcessEnv = { ...env };
  for (const v of PASSWORD_VARS) delete own[v];
  for (const r of [a.sourceAuth, a.sinkAuth]) if (r?.kind === 'env') delete own[r.name];
  const sourceCredentials = side(a.sourceAuth, env, own, PASSWORD_VARS[0]!, `line ${a.line}: source_auth`);
  const sinkCredentials = side(a.sinkAuth, env, own, PASSWORD_VARS[1]!, `line ${a.line}: sink_auth`);
  return { sourceCredentials, sinkCredentials, env: own, prompt: undefined };
}

export function emptyResult(a: BatchAccount): PairResult {
  return {
    id: a.id,
    name: a.name,
    line: a.line,
    source: a.source,
    sink: a.sink,
    state: 'queued',
    exitCode: 0,
    planned: 0,
    copied: 0,
    alreadyPresent: 0,
    failed: [],
    bytes: 0,
    seconds: 0,
    attempts: 0,
  };
}

export function stateOfExit(code: number): PairState {
  const states: Record<number, PairState> = {
    0: 'done',
    1: 'failed',
    2: 'invalid',
    3: 'unreachable',
    4: 'quota',
    130: 'interrupted',
  };
  return states[code] ?? 'error';
}

export function pairRequest(
  a: BatchAccount,
  s: PairSettings,
  extra: Partial<TransferRequest>,
): TransferRequest {
  return {
    ...s.base,
    ...pairCredentials(a, s.base.env ?? process.env),
    include: a.include,
    exclude: a.exclude,
    map: a.map,
    ...(a.folder ? { folder: a.folder } : {}),
    connections: s.connections,
    progress: 'none',
    ...extra,
  };
}

/** One attempt at one pair: copy, then (with --verify) verify. Never throws. */
export async function runPair(
  a: BatchAccount,
  s: PairSettings,
  counters: Counters = new Counters(),
  signal?: AbortSignal,
): Promise<PairResult> {
  const r = emptyResult(a);
  const started = Date.now();
  try {
    const req = pairRequest(a, s, { counters, ...(signal ? { signal } : {}) });
    const rep = await copy(a.source, a.sink, req);
    Object.assign(r, {
      exitCode: rep.exitCode,
      planned: rep.planned,
      copied: rep.copied,
      alreadyPresent: rep.alreadyPresent,
      bytes: rep.bytes,
      failed: rep.failed.map((f) => ({ folder: f.folder, id: f.id, code: f.code, reason: f.reason })),
    });
    if (rep.stoppedBy) r.message = `${rep.stoppedBy.code}: ${rep.stoppedBy.message}`;
    else if (rep.failed.length) r.message = `${rep.failed.length} message(s) failed`;
    if (rep.exitCode === 0 && s.verify) {
      const v = await verify(a.source, a.sink, pairRequest(a, s, signal ? { signal } : {}));
      r.verified = v.ok;
      if (!v.ok) {
        r.exitCode = v.exitCode || 1;
        r.message = 'verify: the sink differs from the source';
      }
    }
  } catch (err) {
    r.exitCode = exitCodeOf(err);
    r.message = err instanceof MailferryError ? oneLine(err) : `internal error: ${String(err)}`;
    if (!(err instanceof MailferryError)) r.exitCode = 70;
    if (signal?.aborted) r.exitCode = 130;
  }
  const scrub = (t: string) => s.base.secrets?.scrub(t) ?? t;
  if (r.message) r.message = scrub(r.message);
  for (const f of r.failed) f.reason = scrub(f.reason);
  r.state = stateOfExit(r.exitCode);
  r.seconds = (Date.now() - started) / 1000;
  return r;
}

function oneLine(e: MailferryError): string {
  return `${e.code}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`.split('\n')[0]!;
}
