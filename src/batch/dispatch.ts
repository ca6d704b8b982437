import type { BatchOutcome, BatchRequest } from '../commands/batch.js';
import { defaultReportDir } from '../commands/batch.js';
import { sleep } from '../util/timers.js';
import { readAccounts } from './accounts.js';
import {
  BATCHES,
  batchTag,
  jobId,
  metaKey,
  openQueue,
  type PairJob,
  redisClient,
  refuseFiles,
  resultsKey,
} from './distributed.js';
import { emptyResult, type PairResult } from './pair.js';
import { startBatchView } from './progress.js';
import { buildReport, writeReports } from './report.js';
import { isFinal } from './runner.js';

const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5000 },
  removeOnComplete: false,
  removeOnFail: false,
} as const;

/**
 * `mailferry batch --redis URL`: puts every pair on the queue (one job each, its id fixed by
 * the pair) and follows them until each is done or failed for good. A Redis that lost its
 * data (restarted without saving) gets the missing jobs again, after one lease lifetime so
 * a worker still copying that pair has renewed its lock first; the sink is the truth, so a
 * second run of a finished pair copies nothing.
 */
export async function distributedBatch(
  req: BatchRequest & { redis: string; leaseMs: number },
): Promise<BatchOutcome> {
  const accounts = readAccounts(req.csv);
  refuseFiles(accounts);
  const tag = batchTag(accounts);
  const startedAt = Date.now();
  const { queue, done } = openQueue(req.redis);
  queue.on('error', () => undefined);
  const redis = redisClient(req.redis);
  redis.on('error', () => undefined);
  const results = new Map<string, PairResult>(accounts.map((a) => [a.id, emptyResult(a)]));
  const view = startBatchView(req.progress, accounts.length, req.write);
  const data = (a: (typeof accounts)[number]): PairJob => ({
    batch: tag,
    account: a,
    perHost: req.perHost,
    connections: req.pair.connections,
    verify: req.pair.verify,
    quotaWaitMs: req.quotaWaitMs,
  });
  const meta = JSON.stringify({
    tag,
    csv: req.csv,
    perHost: req.perHost,
    accounts: accounts.map((a) => ({ id: a.id, name: a.name, source: a.source, sink: a.sink })),
  });
  try {
    let firstRound = true;
    await redis.del(resultsKey(tag)).catch(() => undefined);
    while (!req.signal.aborted) {
      await redis.hset(metaKey(tag), { meta, startedAt }).catch(() => undefined);
      await redis.sadd(BATCHES, tag).catch(() => undefined);
      const stored = await redis.hgetall(resultsKey(tag)).catch(() => ({}) as Record<string, string>);
      for (const a of accounts) {
        if (isFinal(results.get(a.id)!.state)) continue;
        let job = await queue.getJob(jobId(tag, a.id)).catch(() => null);
        if (job && firstRound && ['completed', 'failed'].includes(await job.getState())) {
          // An earlier run of this batch: this run copies what arrived since (a delta pass).
          await job.remove().catch(() => undefined);
          job = null;
        }
        if (!job) {
          // Never queued, or Redis lost it: queue it (again).
          await queue
            .add('pair', data(a), {
              ...JOB_OPTIONS,
              jobId: jobId(tag, a.id),
              delay: firstRound ? 0 : req.leaseMs,
            })
            .catch(() => undefined);
          continue;
        }
        const state = await job.getState().catch(() => 'unknown');
        const got = stored[a.id] ? (JSON.parse(stored[a.id]!) as PairResult) : undefined;
        let r = results.get(a.id)!;
        if (state === 'completed') r = { ...(job.returnvalue ?? got ?? r), state: 'done' };
        else if (state === 'failed')
          r = {
            ...(got ?? r),
            state: got && got.state !== 'done' ? got.state : 'failed',
            message: job.failedReason,
          };
        else if (state === 'active') r = { ...r, state: 'running' };
        else if (state === 'delayed' || state === 'waiting')
          r = { ...r, state: r.state === 'running' ? 'waiting' : r.state };
        if (r.state !== results.get(a.id)!.state) view.changed(r, undefined);
        results.set(a.id, r);
      }
      firstRound = false;
      if ([...results.values()].every((r) => isFinal(r.state))) break;
      await sleep(500, req.signal).catch(() => undefined);
    }
  } finally {
    view.stop();
    await done();
    await redis.quit().catch(() => undefined);
  }
  const list = accounts.map((a) => results.get(a.id)!);
  for (const [i, r] of list.entries()) if (!isFinal(r.state)) list[i] = { ...r, state: 'interrupted' };
  const report = buildReport(list, { startedAt, jobs: 0, perHost: req.perHost, peak: new Map() });
  const files = writeReports(req.reportDir ?? defaultReportDir(req.csv, req.pair.base.stateDir), report);
  const exitCode = req.signal.aborted ? 130 : report.totals.done === accounts.length ? 0 : 1;
  return { report, files, exitCode };
}
