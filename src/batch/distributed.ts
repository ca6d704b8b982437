import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { DelayedError, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { TransferRequest } from '../commands/common.js';
import { parseEndpoint } from '../endpoint.js';
import { UsageError } from '../errors.js';
import { Counters } from '../run/progress.js';
import type { BatchAccount } from './accounts.js';
import { pairNeeds } from './hosts.js';
import { type PairResult, runPair } from './pair.js';
import { MiniRedis } from './redis/client.js';
import { HostLeases } from './redis/leases.js';
import { parseRedisUrl } from './redis/resp.js';

export const QUEUE = 'mailferry-batch';
const KEY = 'mailferry:batch';

/** What a job carries: the pair (credentials by reference only) and the batch's settings. */
export interface PairJob {
  batch: string;
  account: BatchAccount;
  perHost: number;
  connections: number;
  verify: boolean;
  quotaWaitMs: number;
}

export function redisClient(url: string): MiniRedis {
  try {
    return new MiniRedis(parseRedisUrl(url));
  } catch {
    throw new UsageError(`bad --redis '${url.replace(/:[^:@/]*@/, ':***@')}'`, {
      hint: 'write redis://HOST:PORT',
    });
  }
}

/** Only server-to-server pairs travel: a file endpoint lives on one machine. */
export function refuseFiles(accounts: BatchAccount[]): void {
  for (const a of accounts)
    for (const [side, text] of [
      ['sink', a.sink],
      ['source', a.source],
    ] as const) {
      const kind = parseEndpoint(text).kind;
      if (kind === 'mbox' || kind === 'zip')
        throw new UsageError(`line ${a.line}: a ${kind} ${side} cannot be distributed over Redis`, {
          hint: 'its files stay on one machine: run that line with mailferry batch without --redis',
        });
    }
}

/** A batch's id: the same CSV names the same batch again (a re-run resumes it). */
export function batchTag(accounts: BatchAccount[]): string {
  return createHash('sha256')
    .update(accounts.map((a) => a.id).join(','))
    .digest('hex')
    .slice(0, 10);
}

export const jobId = (batch: string, pair: string) => `${batch}-${pair}`;
export const resultsKey = (batch: string) => `${KEY}:${batch}:results`;
export const metaKey = (batch: string) => `${KEY}:${batch}:meta`;
export const BATCHES = `${KEY}es`;

export interface WorkerOptions {
  redis: string;
  concurrency: number;
  /** How long a job's lock and host leases live without renewal (a dead worker's expire). */
  lockMs: number;
  base: TransferRequest;
  log: (line: string) => void;
  signal: AbortSignal;
}

/**
 * `mailferry worker`: takes pair jobs from any batch, copies each in this process, and
 * writes its result where the batch and the dashboard read it. A job whose worker died is
 * taken by another once its lock expires; the sink is the truth, so it resumes, copying
 * only what is missing.
 */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const admin = redisClient(o.redis);
  const leases = new HostLeases(admin, o.lockMs);
  const me = `${hostname()}:${process.pid}`;
  // BullMQ never closes a connection it was handed: we do, after worker.close().
  const conn = redisClient(o.redis);
  const worker = new Worker<PairJob, PairResult>(
    QUEUE,
    async (job, token) => {
      const d = job.data;
      const { needs, connections } = pairNeeds(d.account, d.account.connections ?? d.connections, d.perHost);
      const lease = await leases.acquire(d.account.id, needs, d.perHost);
      if (!lease) {
        // Its servers are full (or another worker runs this pair): look again shortly.
        await job.moveToDelayed(Date.now() + 500 + Math.floor(Math.random() * 1000), token);
        throw new DelayedError();
      }
      const counters = new Counters();
      const tick = setInterval(
        () => {
          void leases.renew(d.account.id, needs, d.perHost, lease).catch(() => undefined);
          void job
            .updateProgress({
              copied: counters.copied,
              planned: counters.planned,
              bytes: counters.bytes,
              worker: me,
            })
            .catch(() => undefined);
        },
        Math.max(200, o.lockMs / 3),
      );
      let r: PairResult;
      try {
        o.log(`worker: ${d.account.name}: started`);
        r = await runPair(d.account, { base: o.base, connections, verify: d.verify }, counters, o.signal);
      } finally {
        clearInterval(tick);
        await leases.release(d.account.id, needs, lease).catch(() => undefined);
      }
      r = { ...r, worker: me, attempts: job.attemptsMade + 1 };
      o.log(`worker: ${d.account.name}: ${r.state}${r.message ? `: ${r.message}` : ''}`);
      await admin.hset(resultsKey(d.batch), { [d.account.id]: JSON.stringify(r) }).catch(() => undefined);
      return settle(r, d, job, token);
    },
    {
      connection: conn as never,
      concurrency: o.concurrency,
      lockDuration: o.lockMs,
      stalledInterval: Math.max(1000, Math.floor(o.lockMs / 2)),
      maxStalledCount: 5,
      autorun: false,
    },
  );
  worker.on('error', () => undefined);
  const stopped = new Promise<void>((resolve) =>
    o.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const running = worker.run();
  o.log(`worker: ${me} waiting for jobs on ${QUEUE}`);
  await Promise.race([running, stopped]);
  await worker.close();
  conn.disconnect();
  await admin.quit();
}

/** Exit codes to actions: 0 done; 4 wait for the quota window; 3 and 2 fail at once; else retry with backoff. */
async function settle(
  r: PairResult,
  d: PairJob,
  job: { moveToDelayed(t: number, token?: string): Promise<void> },
  token: string | undefined,
): Promise<PairResult> {
  if (r.state === 'done') return r;
  if (r.state === 'quota') {
    await job.moveToDelayed(Date.now() + d.quotaWaitMs, token);
    throw new DelayedError();
  }
  const why = `${r.state}: ${r.message ?? `exit ${r.exitCode}`}`;
  if (r.state === 'unreachable' || r.state === 'invalid') throw new UnrecoverableError(why);
  throw new Error(why);
}

/** The queue and its connection, which BullMQ leaves open at close(): `done` closes both. */
export function openQueue(redis: string): { queue: Queue<PairJob, PairResult>; done: () => Promise<void> } {
  const conn = redisClient(redis);
  const queue = new Queue<PairJob, PairResult>(QUEUE, { connection: conn as never });
  return {
    queue,
    done: async () => {
      await queue.close().catch(() => undefined);
      conn.disconnect();
    },
  };
}
