import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mailboxStatus } from '../test/rig/accounts.js';
import { MAIL_USER } from '../test/rig/system.js';
import type { Measured, RunSpec } from './measure.js';
import { type Account, countMaildir, getmailSpec, mbsyncImapSpec, mbsyncSpec, mpopSpec } from './peers.js';
import { type BenchEnv, newAccount, type SourceSet } from './setup.js';

/** One run of one tool into a fresh target, and how to tell it delivered everything. */
export interface Trial {
  spec: RunSpec;
  /** Messages the target holds after the run; throws with the tool's own complaint. */
  delivered(m: Measured): Promise<number>;
  /** The same command again into the same target (no-op re-run); checked to copy nothing. */
  rerun?: { spec: RunSpec; check(m: Measured): void };
}

export interface Contender {
  tool: string;
  mailferry: boolean;
  prepare(dir: string): Promise<Trial>;
}

export interface Job {
  id: string;
  title: string;
  source: SourceSet;
  contenders: Contender[];
}

export const JOB_IDS = ['imap-imap', 'imap-file', 'pop3-mbox', 'pop3-imap'] as const;

interface CopyReportLike {
  copied: number;
  failed: Array<{ reason?: string }>;
  exitCode: number;
}

function parseReport(m: Measured): CopyReportLike {
  const start = m.stdout.indexOf('{');
  if (m.code !== 0 || start < 0) throw new Error(toolError(m));
  try {
    return JSON.parse(m.stdout.slice(start)) as CopyReportLike;
  } catch {
    throw new Error(`no JSON report: ${m.stdout.slice(0, 200)}`);
  }
}

/** The first line a tool complained with, for the results table. */
export function toolError(m: Measured): string {
  const line = `${m.stderr}\n${m.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l && !/Password is being sent in the clear/.test(l));
  const how = m.timedOut ? 'timed out' : m.signal ? `killed by ${m.signal}` : `exit ${m.code}`;
  return `${how}${line ? `: ${line.slice(0, 300)}` : ''}`;
}

async function imapTotal(env: BenchEnv, user: string): Promise<number> {
  return (await mailboxStatus(env.rig, user)).reduce((s, r) => s + r.messages, 0);
}

/** Implicit TLS, as every peer uses it (accounts carry the imaps/pop3s ports). */
function url(kind: 'imap' | 'pop3', a: Account): string {
  return `${kind}s://${encodeURIComponent(a.user)}@${a.host}:${a.port}`;
}

type SinkKind = 'imap' | 'mbox' | 'zip';

export function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function fileTarget(to: SinkKind, dir: string): string {
  return to === 'mbox' ? `mbox:${join(dir, 'mbox')}` : `zip:${join(dir, 'out.zip')}`;
}

/** MAILFERRY_BENCH_NODE_OPTIONS: node flags for mailferry runs only (e.g. --heap-prof to find memory holders). */
function nodeOptions(): NodeJS.ProcessEnv {
  const extra = process.env.MAILFERRY_BENCH_NODE_OPTIONS;
  return extra ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${extra}`.trim() } : {};
}

function mailferry(
  env: BenchEnv,
  from: 'imap' | 'pop3',
  to: SinkKind,
  tool: string,
  extra: string[] = [],
  source: SourceSet = from === 'imap' ? env.imap : env.pop3,
): Contender {
  return {
    tool,
    mailferry: true,
    async prepare(dir) {
      const sink = to === 'imap' ? await newAccount(env.rig, 'bench-dst', env.rig.ports.imaps) : undefined;
      const target = sink ? url('imap', sink) : fileTarget(to, dir);
      const prof = env.profileDir
        ? ['--cpu-prof', '--cpu-prof-dir', join(env.profileDir, slug(`${from}-${tool}`))]
        : [];
      const args = [...prof, ...env.mailferry.args, 'copy', url(from, source.account), target];
      args.push('--state-dir', join(dir, 'state'));
      args.push('--ca-file', env.rig.caFile, '--progress', 'none', '--json', ...extra);
      const passwords: NodeJS.ProcessEnv = { MAILFERRY_SOURCE_PASSWORD: source.account.password };
      if (sink) passwords.MAILFERRY_SINK_PASSWORD = sink.password;
      const spec: RunSpec = {
        cmd: env.mailferry.cmd,
        args,
        env: { ...process.env, ...env.mailferry.env, ...passwords, ...nodeOptions() },
      };
      return {
        spec,
        async delivered(m) {
          const r = parseReport(m);
          if (r.failed.length) throw new Error(`${r.failed.length} failed: ${r.failed[0]?.reason ?? ''}`);
          // An IMAP target is counted by the server itself, not by mailferry's own report.
          return sink ? imapTotal(env, sink.user) : r.copied;
        },
        rerun: {
          spec,
          check(m) {
            const r = parseReport(m);
            if (r.copied !== 0) throw new Error(`no-op re-run copied ${r.copied}`);
          },
        },
      };
    },
  };
}

function rawAppend(env: BenchEnv, source: SourceSet): Contender {
  return {
    tool: 'raw APPEND',
    mailferry: false,
    async prepare() {
      const sink = await newAccount(env.rig, 'bench-raw', env.rig.ports.imaps);
      const args = [...env.rawAppend.args, '--host', sink.host, '--port', String(sink.port)];
      args.push('--ca', env.rig.caFile);
      args.push('--user', sink.user, '--manifest', source.manifest);
      return {
        spec: { cmd: env.rawAppend.cmd, args, env: { ...process.env, RAW_APPEND_PASSWORD: sink.password } },
        async delivered(m) {
          if (m.code !== 0) throw new Error(toolError(m));
          return imapTotal(env, sink.user);
        },
      };
    },
  };
}

/** mbsync IMAP→IMAP into a fresh account: the stand-in for imapsync (not packaged in Debian bookworm). */
function mbsyncImap(env: BenchEnv, source: SourceSet): Contender {
  return {
    tool: 'mbsync IMAP→IMAP',
    mailferry: false,
    async prepare(dir) {
      const sink = await newAccount(env.rig, 'bench-mbsync', env.rig.ports.imaps);
      const spec = mbsyncImapSpec(source.account, sink, dir, env.rig.caFile);
      return {
        spec,
        async delivered(m) {
          if (m.code !== 0) throw new Error(toolError(m));
          return imapTotal(env, sink.user);
        },
        rerun: {
          spec,
          check(m) {
            if (m.code !== 0) throw new Error(toolError(m));
          },
        },
      };
    },
  };
}

type PeerSpec = (src: Account, dir: string) => RunSpec;

function maildirPeer(tool: string, account: Account, make: PeerSpec): Contender {
  return {
    tool,
    mailferry: false,
    async prepare(dir) {
      mkdirSync(dir, { recursive: true });
      const spec = make(account, dir);
      const delivered = (m: Measured) => {
        if (m.code !== 0) throw new Error(toolError(m));
        return countMaildir(dir).messages;
      };
      return {
        spec,
        delivered: async (m) => delivered(m),
        rerun: {
          spec,
          check(m) {
            if (m.code !== 0) throw new Error(toolError(m));
          },
        },
      };
    },
  };
}

export function buildJobs(env: BenchEnv, ids: readonly string[]): Job[] {
  const all: Job[] = [
    {
      id: 'imap-imap',
      title: 'IMAP→IMAP',
      source: env.imap,
      contenders: [
        mailferry(env, 'imap', 'imap', 'mailferry'),
        mailferry(env, 'imap', 'imap', 'mailferry --connections 1', ['--connections', '1']),
        mbsyncImap(env, env.imap),
        rawAppend(env, env.imap),
      ],
    },
    {
      id: 'imap-file',
      title: 'IMAP→files',
      source: env.imap,
      contenders: [
        mailferry(env, 'imap', 'mbox', 'mailferry → mbox'),
        mailferry(env, 'imap', 'zip', 'mailferry → zip'),
        maildirPeer('mbsync → Maildir', env.imap.account, (a, d) => mbsyncSpec(a, d, env.rig.caFile)),
      ],
    },
    {
      id: 'pop3-mbox',
      title: 'POP3→mbox',
      source: env.pop3,
      contenders: [
        mailferry(env, 'pop3', 'mbox', 'mailferry → mbox'),
        maildirPeer('mpop → Maildir', env.pop3.account, (a, d) => mpopSpec(a, d, env.rig.caFile)),
        maildirPeer('getmail6 → Maildir', env.pop3.account, (a, d) =>
          getmailSpec(a, d, env.rig.caFile, { name: MAIL_USER, uid: env.rig.mailUid, gid: env.rig.mailGid }),
        ),
      ],
    },
    {
      id: 'pop3-imap',
      title: 'POP3→IMAP',
      source: env.pop3,
      contenders: [mailferry(env, 'pop3', 'imap', 'mailferry'), rawAppend(env, env.pop3)],
    },
  ];
  return all.filter((j) => ids.includes(j.id));
}

/** One folder of many small messages (--big-folder): mailferry's memory, with mbsync for scale. */
export function bigFolderJob(env: BenchEnv, source: SourceSet): Job {
  return {
    id: 'imap-big',
    title: 'IMAP→mbox, one big folder',
    source,
    contenders: [
      mailferry(env, 'imap', 'mbox', 'mailferry → mbox', [], source),
      maildirPeer('mbsync → Maildir', source.account, (a, d) => mbsyncSpec(a, d, env.rig.caFile)),
    ],
  };
}
