/**
 * A quick harness for the per-byte cost of the file sinks: one Dovecot account seeded with mail of
 * realistic sizes (about 89% text of 2-20 KB, 10% with a 20 KB-1.2 MB base64 attachment, 1% of
 * 1.5-6 MB), then mailferry and its peers (mbsync, mpop) under GNU time on the same account.
 *
 *   npx tsx bench/profile-bytes.ts setup [--messages 300]   start a rig in /tmp/perf-rig, seed it
 *   npx tsx bench/profile-bytes.ts run JOB [--prof DIR] [--repeat N]
 *   npx tsx bench/profile-bytes.ts stop
 *
 * --unbundled runs dist/cli/main.js (a profile then names files); --bundle FILE another build.
 * JOB: imap-mbox, imap-zip, pop3-mbox, mbsync, mpop. Everything goes over verified implicit TLS.
 * `npm run build` first: the job runs the shipped bundle with its shebang's flags.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shippedCli } from '../test/helpers/shipped.js';
import { createAccount } from '../test/rig/accounts.js';
import { doveadm, type RigInfo, startRig, stopRig } from '../test/rig/dovecot.js';
import { type Account, mbsyncSpec, mpopSpec } from './peers.js';
import { rng } from './realistic.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASE = '/tmp/perf-rig';
const STATE = join(BASE, 'harness.json');
const OUT = '/tmp/perf-out';
const USER = 'bytes';
const PASSWORD = 'bytes-pass-1234';

interface State {
  rig: RigInfo;
  messages: number;
  bytes: number;
}

const WORDS = 'the of and to in is that for it as with was on be by at this from mail or an are'.split(' ');

function textLines(rnd: () => number, bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    let line = '';
    while (line.length < 60) line += `${WORDS[Math.floor(rnd() * WORDS.length)]} `;
    // Now and then a line mboxrd must quote, and one POP3 must dot-stuff.
    const r = rnd();
    if (r < 0.01) line = `From ${line}`;
    else if (r < 0.02) line = `.${line}`;
    lines.push(line.trimEnd());
    size += line.length + 1;
  }
  return lines.join('\n');
}

function base64Lines(rnd: () => number, bytes: number): string {
  const raw = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = Math.floor(rnd() * 256);
  return (raw.toString('base64').match(/.{1,76}/g) ?? []).join('\n');
}

/** One message, LF line ends as Maildir stores them. */
function message(rnd: () => number, i: number): Buffer {
  const r = rnd();
  const attachment = r < 0.01 ? 1_500_000 + rnd() * 4_500_000 : r < 0.11 ? 20_000 + rnd() * 1_180_000 : 0;
  const text = textLines(rnd, 2000 + rnd() * 18_000);
  const date = new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toUTCString().replace('GMT', '+0000');
  const head = [
    `Return-Path: <sender${i % 17}@example.org>`,
    `Received: from mx.example.org by mail.example.net; ${date}`,
    `From: Sender ${i % 17} <sender${i % 17}@example.org>`,
    'To: bytes@example.net',
    `Subject: message ${i}`,
    `Date: ${date}`,
    `Message-ID: <bytes-${i}@example.org>`,
    'MIME-Version: 1.0',
  ];
  if (!attachment) {
    return Buffer.from(`${[...head, 'Content-Type: text/plain; charset=us-ascii', '', text].join('\n')}\n`);
  }
  const b = `b${i}`;
  const body = [
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    text,
    `--${b}`,
    `Content-Type: application/octet-stream; name="a${i}.bin"`,
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(rnd, Math.floor(attachment * 0.75)),
    `--${b}--`,
  ];
  return Buffer.from(`${[...head, ...body].join('\n')}\n`);
}

async function setup(count: number): Promise<void> {
  if (existsSync(STATE)) throw new Error(`${STATE} exists: stop first`);
  const rig = await startRig({ baseDir: BASE });
  await createAccount(rig, USER, PASSWORD);
  await doveadm(rig, ['mailbox', 'status', '-u', USER, 'messages', 'INBOX']);
  const cur = join(rig.baseDir, 'home', USER, 'Maildir');
  const rnd = rng(12);
  let bytes = 0;
  const stamp = Math.floor(Date.now() / 1000);
  for (let i = 0; i < count; i++) {
    const raw = message(rnd, i);
    bytes += raw.length;
    const name = `${stamp}.M${i}P${process.pid}.perf,S=${raw.length}`;
    const tmp = join(cur, 'tmp', name);
    writeFileSync(tmp, raw);
    chownSync(tmp, rig.mailUid, rig.mailGid);
    renameSync(tmp, join(cur, 'cur', `${name}:2,S`));
  }
  await doveadm(rig, ['force-resync', '-u', USER, '*']);
  writeFileSync(STATE, JSON.stringify({ rig, messages: count, bytes } satisfies State));
  console.log(`seeded ${count} messages, ${(bytes / 1e6).toFixed(1)} MB (LF) in ${cur}`);
}

function account(state: State, kind: 'imap' | 'pop3'): Account {
  const port = kind === 'imap' ? state.rig.ports.imaps : state.rig.ports.pop3s;
  return { host: '127.0.0.1', port, user: USER, password: PASSWORD };
}

function spec(
  state: State,
  job: string,
  dir: string,
  prof?: string,
): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv } {
  if (job === 'mbsync') return mbsyncSpec(account(state, 'imap'), dir, state.rig.caFile);
  if (job === 'mpop') return mpopSpec(account(state, 'pop3'), dir, state.rig.caFile);
  const [from, to] = job.split('-') as ['imap' | 'pop3', 'mbox' | 'zip'];
  const a = account(state, from);
  const target = to === 'zip' ? `zip:${join(dir, 'out.zip')}` : `mbox:${join(dir, 'mbox')}`;
  const cli = shippedCli();
  // --unbundled: the same flags on dist/cli/main.js, so a profile names files and lines.
  if (process.argv.includes('--unbundled')) cli.args[cli.args.length - 1] = join(ROOT, 'dist/cli/main.js');
  // --bundle FILE: another build (say, one saved before a change), with the same flags.
  const other = process.argv.indexOf('--bundle');
  if (other > 0) cli.args[cli.args.length - 1] = process.argv[other + 1]!;
  const profArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const args = [...profArgs, ...cli.args, 'copy', `${from}s://${a.user}@${a.host}:${a.port}`, target];
  args.push('--state-dir', join(dir, 'state'), '--ca-file', state.rig.caFile, '--progress', 'none');
  return { cmd: cli.cmd, args, env: { ...process.env, ...cli.env, MAILFERRY_SOURCE_PASSWORD: a.password } };
}

function run(state: State, job: string, prof: string | undefined, repeat: number): void {
  for (let r = 0; r < repeat; r++) {
    const dir = join(OUT, job);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const s = spec(state, job, dir, prof);
    const timeFile = join(OUT, `${job}.time`);
    const res = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S %M', s.cmd, ...s.args], {
      env: s.env ?? process.env,
      encoding: 'utf8',
    });
    if (res.status !== 0) console.log(`${job}: exit ${res.status}\n${res.stdout}${res.stderr}`);
    const [wall, user, sys, rss] = readFileSync(timeFile, 'utf8')
      .trim()
      .split('\n')
      .at(-1)!
      .split(' ')
      .map(Number);
    const cpu = user! + sys!;
    const mb = state.bytes / 1e6;
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    console.log(
      `${job.padEnd(10)} wall ${wall!.toFixed(2)} s  cpu ${cpu.toFixed(2)} s (user ${user} sys ${sys})  ` +
        `${(mb / wall!).toFixed(0)} MB/s  ${((cpu * 100) / mb).toFixed(2)} cpu-s/100MB  rss ${(rss! / 1024).toFixed(0)} MB  load ${load}`,
    );
  }
}

async function main(): Promise<void> {
  const [cmd, job] = process.argv.slice(2);
  const opt = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  if (cmd === 'setup') return setup(Number(opt('--messages') ?? 300));
  const state = JSON.parse(readFileSync(STATE, 'utf8')) as State;
  if (cmd === 'stop') {
    await stopRig(state.rig);
    return;
  }
  if (cmd === 'run' && job) return run(state, job, opt('--prof'), Number(opt('--repeat') ?? 1));
  throw new Error('usage: profile-bytes.ts setup|run JOB|stop');
}

await main();
