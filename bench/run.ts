/**
 * `npm run bench [-- --n 2000 --rounds 3 --corpus spamassassin|realistic|both --jobs imap-imap,pop3-mbox
 *                   --big-folder 100000 --out FILE --markdown FILE --profile DIR --timeout SECONDS --keep]`
 *
 * Starts a private Dovecot, seeds N messages per corpus, then runs mailferry and its peers side by
 * side, alternating, each round into a fresh target; prints one table and PASS/MISS per target.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRig, stopRig } from '../test/rig/dovecot.js';
import {
  bigFolderJob,
  buildJobs,
  type Contender,
  JOB_IDS,
  type Job,
  slug,
  type Trial,
  toolError,
} from './jobs.js';
import { ensurePeers, machineInfo } from './machine.js';
import { type Measured, measure, median } from './measure.js';
import {
  type BenchResults,
  type ContenderResult,
  evaluateTargets,
  markdownTable,
  type RoundResult,
  summarize,
} from './report.js';
import { CORPORA, type Command, type Corpus, prepare, prepareTools, seedBigFolder } from './setup.js';

interface Options {
  n: number;
  rounds: number;
  jobs: string[];
  corpora: Corpus[];
  /** Messages in the one-big-folder memory run; 0: none. */
  bigFolder: number;
  out: string;
  markdown?: string;
  profile?: string;
  keep: boolean;
  /** Per run: a hung tool is killed and its row shows the error. */
  timeoutMs: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function parseArgs(argv: string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const number = (name: string, dflt: number) => {
    const v = Number(value(name) ?? dflt);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a whole number above 0`);
    return v;
  };
  // --jobs none: only the --big-folder run.
  const jobs = (value('jobs') ?? JOB_IDS.join(',')).split(',').filter((j) => j && j !== 'none');
  const unknown = jobs.filter((j) => !(JOB_IDS as readonly string[]).includes(j));
  if (unknown.length) throw new Error(`unknown job ${unknown.join(', ')}; jobs: ${JOB_IDS.join(', ')}`);
  const corpus = value('corpus') ?? 'spamassassin';
  if (corpus !== 'both' && !(CORPORA as readonly string[]).includes(corpus)) {
    throw new Error(`unknown corpus ${corpus}; corpora: ${CORPORA.join(', ')}, both`);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const opts: Options = {
    n: number('n', 2000),
    rounds: number('rounds', 3),
    jobs,
    corpora: corpus === 'both' ? [...CORPORA] : [corpus as Corpus],
    bigFolder: value('big-folder') === undefined ? 0 : number('big-folder', 0),
    out: value('out') ?? join(tmpdir(), `mailferry-bench-${stamp}.json`),
    keep: argv.includes('--keep'),
    timeoutMs: number('timeout', 900) * 1000,
  };
  const md = value('markdown');
  if (md) opts.markdown = md;
  const prof = value('profile');
  if (prof) opts.profile = prof;
  return opts;
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

async function measureSafely(spec: Trial['spec']): Promise<Measured | string> {
  try {
    return await measure(spec);
  } catch (err) {
    return `cannot start ${spec.cmd}: ${message(err)}`;
  }
}

async function runTrial(
  c: Contender,
  dir: string,
  round: number,
  expected: number,
  timeoutMs: number,
): Promise<RoundResult> {
  const failed = (error: string): RoundResult => ({
    round,
    seconds: Number.NaN,
    peakRssMb: Number.NaN,
    cpuSeconds: Number.NaN,
    delivered: 0,
    error,
  });
  mkdirSync(dir, { recursive: true });
  let trial: Trial;
  try {
    trial = await c.prepare(dir);
  } catch (err) {
    return failed(`setup: ${message(err)}`);
  }
  trial.spec.timeoutMs ??= timeoutMs;
  const m = await measureSafely(trial.spec);
  if (typeof m === 'string') return failed(m);
  const res: RoundResult = {
    round,
    seconds: m.seconds,
    peakRssMb: m.peakRssMb,
    cpuSeconds: m.cpuSeconds,
    delivered: 0,
  };
  try {
    res.delivered = await trial.delivered(m);
    if (res.delivered !== expected) res.error = `delivered ${res.delivered} of ${expected}; ${toolError(m)}`;
  } catch (err) {
    res.error = message(err);
  }
  // A no-op re-run only means something once the first run delivered everything.
  if (trial.rerun && !res.error) {
    const again = await measureSafely(trial.rerun.spec);
    if (typeof again === 'string') res.noop = { seconds: Number.NaN, peakRssMb: Number.NaN, error: again };
    else {
      res.noop = { seconds: again.seconds, peakRssMb: again.peakRssMb };
      try {
        trial.rerun.check(again);
      } catch (err) {
        res.noop.error = `no-op: ${message(err)}`;
      }
    }
  }
  return res;
}

function describe(job: Job, tool: string, r: RoundResult): string {
  const head = `bench: ${job.source.corpus} ${job.id} round ${r.round} ${tool}:`;
  if (r.error) return `${head} ERROR ${r.error}`;
  const rate = job.source.messages / r.seconds;
  const noop = r.noop
    ? `; no-op ${r.noop.seconds.toFixed(2)} s${r.noop.error ? ` (${r.noop.error})` : ''}`
    : '';
  return `${head} ${r.delivered} msgs in ${r.seconds.toFixed(2)} s (${rate.toFixed(0)} msg/s, ${r.cpuSeconds.toFixed(2)} s CPU), peak RSS ${r.peakRssMb.toFixed(0)} MB${noop}`;
}

/** Each round runs every contender once, in an order rotated by the round, into a fresh target. */
async function runJob(job: Job, opts: Options, work: string): Promise<ContenderResult[]> {
  const results: ContenderResult[] = job.contenders.map((c) => ({
    corpus: job.source.corpus,
    job: job.id,
    title: job.title,
    tool: c.tool,
    mailferry: c.mailferry,
    messages: job.source.messages,
    bytes: job.source.bytes,
    rounds: [],
  }));
  const count = job.contenders.length;
  for (let round = 1; round <= opts.rounds; round++) {
    for (let k = 0; k < count; k++) {
      const i = (k + round - 1) % count;
      const c = job.contenders[i]!;
      const dir = join(work, job.source.corpus, job.id, slug(c.tool), `r${round}`);
      const r = await runTrial(c, dir, round, job.source.messages, opts.timeoutMs);
      results[i]!.rounds.push(r);
      log(describe(job, c.tool, r));
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

/** Wall time of `mailferry --version`: process start and module loading, no network. */
async function startupSeconds(command: Command): Promise<number> {
  const { cmd, args } = command;
  const env = { ...process.env, ...command.env };
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await measure({ cmd, args: [...args, '--version'], env })).seconds);
  return median(times);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  ensurePeers(log);
  const machine = machineInfo();
  const loadBefore = loadavg()[0] ?? 0;
  const work = mkdtempSync(join(tmpdir(), 'mailferry-bench-'));
  // getmail delivers as the rig's mail user, who must reach its Maildir; config files stay 0600.
  chmodSync(work, 0o755);
  log(
    `bench: N=${opts.n}, corpora ${opts.corpora.join(',')}, ${opts.rounds} rounds, jobs ${opts.jobs.join(',')}${opts.bigFolder ? `, big folder ${opts.bigFolder}` : ''}; work dir ${work}`,
  );
  const rig = await startRig();
  const stop = () => {
    log('bench: interrupted, stopping the rig');
    stopRig(rig).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const tools = prepareTools(work, log);
    const startup = await startupSeconds(tools.mailferry);
    log(`bench: mailferry --version takes ${startup.toFixed(2)} s (median of 5): the floor of any run`);
    const raw: ContenderResult[] = [];
    for (const corpus of opts.corpora) {
      const env = await prepare(rig, work, opts.n, corpus, tools, log);
      if (opts.profile) env.profileDir = opts.profile;
      for (const job of buildJobs(env, opts.jobs)) raw.push(...(await runJob(job, opts, work)));
      if (opts.bigFolder && corpus === opts.corpora[opts.corpora.length - 1]) {
        const started = performance.now();
        const big = await seedBigFolder(rig, opts.bigFolder);
        log(
          `bench: seeded one folder of ${big.messages} small messages in ${Math.round(performance.now() - started)} ms`,
        );
        raw.push(...(await runJob(bigFolderJob(env, big), { ...opts, rounds: 1 }, work)));
      }
    }
    const summaries = raw.map(summarize);
    const results: BenchResults = {
      machine,
      load: { before: loadBefore, after: loadavg()[0] ?? 0 },
      n: opts.n,
      corpora: opts.corpora,
      rounds: opts.rounds,
      mailferryBuild: tools.mailferryBuild,
      startupSeconds: startup,
      ...(opts.bigFolder ? { bigFolder: opts.bigFolder } : {}),
      summaries,
      targets: evaluateTargets(summaries, opts.n),
      raw,
    };
    const table = markdownTable(results);
    process.stdout.write(`\n${table}`);
    writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
    if (opts.markdown) writeFileSync(opts.markdown, table);
    log(`bench: results in ${opts.out}${opts.markdown ? ` and ${opts.markdown}` : ''}`);
  } finally {
    await stopRig(rig, { keep: opts.keep });
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
