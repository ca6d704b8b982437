import type { Argv, CommandModule } from 'yargs';
import { batch, checkBatch, formatBatch, formatCheck } from '../commands/batch.js';
import type { SecretRegistry } from '../credentials.js';
import { UsageError } from '../errors.js';
import { type CliArgs, toRequest } from './options.js';

/** What the batch commands need from main(): the stop signal, the scrubbing printers, the exit code. */
export interface BatchCliContext {
  signal: AbortSignal;
  secrets: SecretRegistry;
  out: (s: string) => void;
  err: (s: string) => void;
  setCode: (code: number) => void;
}

export interface BatchArgs extends CliArgs {
  accounts: string;
  jobs: number;
  'per-host': number;
  verify: boolean;
  check: boolean;
  'quota-wait': number;
  'quota-retries': number;
  'report-dir'?: string;
  redis?: string;
  'lock-duration': number;
}

function whole(name: string, n: number, min: number, max: number): number {
  if (Number.isInteger(n) && n >= min && n <= max) return n;
  throw new UsageError(`bad --${name} ${n}`, { hint: `give a whole number from ${min} to ${max}` });
}

function batchOptions(y: Argv) {
  return y
    .positional('accounts', { type: 'string', demandOption: true, describe: 'CSV, one mailbox pair a line' })
    .option('jobs', { type: 'number', default: 4, describe: 'accounts copied at once, 1-256' })
    .option('per-host', {
      type: 'number',
      default: 8,
      describe: 'most of our connections on one server (host:port) at once, 1-1024',
    })
    .option('connections', {
      type: 'number',
      default: 2,
      describe: 'connections per side of each pair, 1-64',
    })
    .option('verify', { type: 'boolean', default: false, describe: 'verify each pair after copying it' })
    .option('check', {
      type: 'boolean',
      default: false,
      describe: 'log in to every account and print the plan totals; copy nothing',
    })
    .option('quota-wait', {
      type: 'number',
      default: 3600,
      describe: 'seconds to wait after a quota or daily limit (exit 4) before trying the pair again',
    })
    .option('quota-retries', { type: 'number', default: 3, describe: 'tries after a quota stop, 0-100' })
    .option('report-dir', { type: 'string', describe: 'where report.json, .csv and .html go' })
    .option('retries', { type: 'number', default: 5, describe: 'retries per message, 0-100' })
    .option('max-throttle-wait', { type: 'number', default: 900, describe: 'seconds, 1-604800' })
    .option('max-messages-per-second', { type: 'number', describe: 'per pair, 0.001-100000' })
    .option('max-bytes-per-second', { type: 'string', describe: 'per pair, e.g. 500k, 2M' })
    .option('progress', { choices: ['auto', 'bar', 'log', 'none'] as const, default: 'auto' as const })
    .option('redis', {
      type: 'string',
      describe: 'put the pairs on BullMQ at this Redis (redis://HOST:PORT) for workers',
    })
    .option('lock-duration', {
      type: 'number',
      default: 60,
      describe: 'seconds a job lock and host leases live unrenewed (a dead worker frees them after this)',
    });
}

async function runWorkerCommand(a: BatchArgs & { concurrency: number }, ctx: BatchCliContext): Promise<void> {
  const base = toRequest({ ...a, progress: 'none' }, ctx.signal, ctx.secrets);
  base.prompt = undefined;
  // BullMQ loads only for the commands that use it: copy and friends start as fast as before.
  const { runWorker } = await import('../batch/distributed.js');
  await runWorker({
    redis: a.redis ?? '',
    concurrency: whole('concurrency', a.concurrency, 1, 256),
    lockMs: whole('lock-duration', a['lock-duration'], 2, 3600) * 1000,
    base,
    log: ctx.err,
    signal: ctx.signal,
  });
  ctx.setCode(ctx.signal.aborted ? 130 : 0);
}

const CSV_HELP = `accounts.csv: a header line, then one pair a line. Columns: source,sink,source_auth,sink_auth
(required: source, sink) and optionally include,exclude,map (';'-separated), folder, connections, name.
Credentials by reference only: file:PATH (first line), env:NAME or oauth2:COMMAND.`;

async function runBatch(a: BatchArgs, ctx: BatchCliContext): Promise<void> {
  const base = toRequest({ ...a, progress: 'none' }, ctx.signal, ctx.secrets);
  base.prompt = undefined;
  const req = {
    csv: a.accounts,
    pair: { base, connections: base.connections ?? 2, verify: a.verify },
    jobs: whole('jobs', a.jobs, 1, 256),
    perHost: whole('per-host', a['per-host'], 1, 1024),
    quotaWaitMs: whole('quota-wait', a['quota-wait'], 0, 7 * 86_400) * 1000,
    quotaRetries: whole('quota-retries', a['quota-retries'], 0, 100),
    progress: a.json ? ('none' as const) : (a.progress ?? 'auto'),
    signal: ctx.signal,
    write: ctx.err,
    ...(a['report-dir'] ? { reportDir: a['report-dir'] } : {}),
  };
  const leaseMs = whole('lock-duration', a['lock-duration'], 2, 3600) * 1000;
  const o = a.check
    ? await checkBatch(req)
    : a.redis
      ? await (await import('../batch/dispatch.js')).distributedBatch({ ...req, redis: a.redis, leaseMs })
      : await batch(req);
  if (a.json) ctx.out(JSON.stringify(o.report, null, 2));
  else if (a.check) ctx.out(formatCheck(o.report));
  else ctx.err(formatBatch(o));
  ctx.setCode(o.exitCode);
}

/** The mass-migration commands, as yargs command modules for main(). */
export function batchCommands(ctx: BatchCliContext): CommandModule[] {
  return [
    {
      command: 'batch <accounts>',
      describe: 'copy many mailbox pairs from a CSV, each resuming on its own',
      builder: (b) =>
        batchOptions(b)
          .epilogue(CSV_HELP)
          .example('$0 batch accounts.csv --jobs 8 --per-host 4', 'migrate every pair in the CSV'),
      handler: (a) => runBatch(a as unknown as BatchArgs, ctx),
    },
    {
      command: 'worker',
      describe: 'take batch pairs from BullMQ on Redis and copy them (IMAP and POP3 endpoints only)',
      builder: (b) =>
        b
          .option('redis', { type: 'string', demandOption: true, describe: 'redis://HOST:PORT' })
          .option('concurrency', {
            type: 'number',
            default: 2,
            describe: 'pairs this worker copies at once, 1-256',
          })
          .option('lock-duration', {
            type: 'number',
            default: 60,
            describe: 'seconds a job lock and host leases live unrenewed',
          })
          .option('retries', { type: 'number', default: 5, describe: 'retries per message, 0-100' })
          .option('max-messages-per-second', { type: 'number', describe: 'per pair, 0.001-100000' }),
      handler: (a) => runWorkerCommand(a as unknown as BatchArgs & { concurrency: number }, ctx),
    },
  ];
}
