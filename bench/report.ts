import type { MachineInfo } from './machine.js';
import { median } from './measure.js';

export interface RoundResult {
  round: number;
  seconds: number;
  peakRssMb: number;
  delivered: number;
  error?: string;
  /** Second run into the same target. */
  noop?: { seconds: number; peakRssMb: number; error?: string };
}

export interface ContenderResult {
  job: string;
  title: string;
  tool: string;
  mailferry: boolean;
  messages: number;
  bytes: number;
  rounds: RoundResult[];
}

export interface Summary {
  job: string;
  title: string;
  tool: string;
  mailferry: boolean;
  okRounds: number;
  medianSeconds?: number;
  messagesPerSecond?: number;
  mbPerSecond?: number;
  peakRssMb?: number;
  noopSeconds?: number;
  noopPeakRssMb?: number;
  /** Re-runs that failed or copied something: not a no-op. */
  noopFailures: number;
  errors: string[];
}

export interface TargetResult {
  label: string;
  verdict: 'PASS' | 'MISS' | 'n/a';
  detail: string;
}

export interface BenchResults {
  machine: MachineInfo;
  /** 1-minute load average before and after: other work on the machine skews every figure. */
  load: { before: number; after: number };
  n: number;
  rounds: number;
  mailferryBuild: string;
  /** Median wall time of `mailferry --version`. */
  startupSeconds: number;
  summaries: Summary[];
  targets: TargetResult[];
  raw: ContenderResult[];
}

const MB = 1024 * 1024;

export function summarize(c: ContenderResult): Summary {
  const ok = c.rounds.filter((r) => !r.error);
  const noops = c.rounds.flatMap((r) => (r.noop && !r.noop.error ? [r.noop] : []));
  const errors = [
    ...new Set(c.rounds.flatMap((r) => [r.error, r.noop?.error].filter((e): e is string => !!e))),
  ];
  const s: Summary = {
    job: c.job,
    title: c.title,
    tool: c.tool,
    mailferry: c.mailferry,
    okRounds: ok.length,
    noopFailures: c.rounds.filter((r) => r.noop?.error).length,
    errors,
  };
  if (ok.length) {
    const secs = median(ok.map((r) => r.seconds));
    Object.assign(s, {
      medianSeconds: secs,
      messagesPerSecond: c.messages / secs,
      mbPerSecond: c.bytes / MB / secs,
      peakRssMb: Math.max(...ok.map((r) => r.peakRssMb)),
    });
  }
  if (noops.length) {
    s.noopSeconds = median(noops.map((n) => n.seconds));
    s.noopPeakRssMb = Math.max(...noops.map((n) => n.peakRssMb));
  }
  return s;
}

/** Peers each job's mailferry rows are compared with. */
const PEERS: Record<string, Array<{ tool: string; short: string }>> = {
  'imap-imap': [{ tool: 'raw APPEND', short: 'raw APPEND' }],
  'imap-file': [{ tool: 'mbsync → Maildir', short: 'mbsync' }],
  'pop3-mbox': [
    { tool: 'mpop → Maildir', short: 'mpop' },
    { tool: 'getmail6 → Maildir', short: 'getmail6' },
  ],
  'pop3-imap': [{ tool: 'raw APPEND', short: 'raw APPEND' }],
};

function find(all: Summary[], job: string, tool: string): Summary | undefined {
  return all.find((s) => s.job === job && s.tool === tool);
}

export function ratio(all: Summary[], s: Summary, peerTool: string): number | undefined {
  const peer = find(all, s.job, peerTool);
  if (!s.messagesPerSecond || !peer?.messagesPerSecond) return undefined;
  return s.messagesPerSecond / peer.messagesPerSecond;
}

function ratioText(all: Summary[], s: Summary): string {
  if (!s.mailferry) return (PEERS[s.job] ?? []).some((p) => p.tool === s.tool) ? 'peer' : '';
  return (PEERS[s.job] ?? [])
    .map((p) => {
      const r = ratio(all, s, p.tool);
      return r === undefined ? undefined : `${r.toFixed(2)}× ${p.short}`;
    })
    .filter(Boolean)
    .join(', ');
}

const TARGETS = [
  {
    label: 'IMAP→IMAP ≥ 0.9× raw APPEND (1 connection)',
    job: 'imap-imap',
    tool: 'mailferry',
    peer: 'raw APPEND',
    min: 0.9,
  },
  {
    label: 'IMAP→mbox ≥ 1.0× mbsync',
    job: 'imap-file',
    tool: 'mailferry → mbox',
    peer: 'mbsync → Maildir',
    min: 1,
  },
  {
    label: 'IMAP→zip ≥ 0.8× mbsync',
    job: 'imap-file',
    tool: 'mailferry → zip',
    peer: 'mbsync → Maildir',
    min: 0.8,
  },
  {
    label: 'POP3→mbox ≥ 1.0× mpop',
    job: 'pop3-mbox',
    tool: 'mailferry → mbox',
    peer: 'mpop → Maildir',
    min: 1,
  },
  {
    label: 'POP3→mbox ≥ 10× getmail6',
    job: 'pop3-mbox',
    tool: 'mailferry → mbox',
    peer: 'getmail6 → Maildir',
    min: 10,
  },
  { label: 'POP3→IMAP ≥ 0.9× raw APPEND', job: 'pop3-imap', tool: 'mailferry', peer: 'raw APPEND', min: 0.9 },
];

const TARGET_N = 10_000;

function noopTarget(s: Summary, scale: string): TargetResult {
  const label = `no-op re-run < 0.5 s: ${s.title} ${s.tool}`;
  if (s.noopSeconds === undefined) {
    const why = s.errors.find((e) => e.startsWith('no-op')) ?? '';
    return { label, verdict: 'MISS', detail: `every re-run failed or copied again: ${why}` };
  }
  const failures = s.noopFailures ? `; ${s.noopFailures} re-run(s) failed or copied again` : '';
  const verdict = s.noopSeconds < 0.5 && !s.noopFailures ? 'PASS' : 'MISS';
  return { label, verdict, detail: `${s.noopSeconds.toFixed(2)} s${failures}${scale}` };
}

export function evaluateTargets(all: Summary[], n: number): TargetResult[] {
  const out: TargetResult[] = [];
  for (const t of TARGETS) {
    const s = find(all, t.job, t.tool);
    if (!s) continue;
    const r = ratio(all, s, t.peer);
    if (r === undefined) {
      out.push({
        label: t.label,
        verdict: 'n/a',
        detail: `no successful rounds of ${s.messagesPerSecond ? t.peer : t.tool}`,
      });
    } else {
      out.push({ label: t.label, verdict: r >= t.min ? 'PASS' : 'MISS', detail: `${r.toFixed(2)}×` });
    }
  }
  const scale = n === TARGET_N ? '' : ` (measured at N=${n}; the target is for N=${TARGET_N})`;
  for (const s of all.filter((x) => x.mailferry && (x.noopSeconds !== undefined || x.noopFailures))) {
    out.push(noopTarget(s, scale));
  }
  const rss = all.filter((s) => s.mailferry).flatMap((s) => [s.peakRssMb ?? 0, s.noopPeakRssMb ?? 0]);
  if (rss.length) {
    const peak = Math.max(...rss);
    out.push({
      label: 'peak RSS ≤ 100 MB (every mailferry run)',
      verdict: peak <= 100 ? 'PASS' : 'MISS',
      detail: `${peak.toFixed(0)} MB${scale}`,
    });
  }
  return out;
}

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

export function markdownTable(res: BenchResults): string {
  const m = res.machine;
  const lines = [
    `Measured ${m.date.slice(0, 10)} on ${m.nproc} × ${m.cpuModel}, ${m.memoryGb} GB RAM, Linux ${m.kernel}, Node ${m.node};`,
    `Dovecot ${m.dovecot} on 127.0.0.1; N=${res.n} messages (${res.rounds} rounds, median; mailferry from ${res.mailferryBuild}).`,
    `Peers: ${Object.values(m.peers).join(', ')}. Load average ${res.load.before.toFixed(1)} before, ${res.load.after.toFixed(1)} after.`,
    'Every tool, mailferry and peers alike, reads and writes over implicit TLS (imaps/pop3s) verified against the rig CA.',
    `Times are wall times of the whole process; \`mailferry --version\` alone takes ${res.startupSeconds.toFixed(2)} s here.`,
    '',
    '| job | tool | msg/s | MB/s | peak RSS MB | no-op re-run s | ratio | notes |',
    '|---|---|---:|---:|---:|---:|---|---|',
  ];
  for (const s of res.summaries) {
    const notes = s.errors.length
      ? `${s.okRounds}/${res.rounds} ok; ${s.errors[0]!.replace(/\|/g, '/')}`
      : '';
    lines.push(
      `| ${s.title} | ${s.tool} | ${fmt(s.messagesPerSecond, 0)} | ${fmt(s.mbPerSecond, 1)} | ${fmt(s.peakRssMb, 0)} | ${fmt(s.noopSeconds, 2)} | ${ratioText(res.summaries, s)} | ${notes} |`,
    );
  }
  lines.push('', '| target | result | measured |', '|---|---|---|');
  for (const t of res.targets) lines.push(`| ${t.label} | ${t.verdict} | ${t.detail} |`);
  return `${lines.join('\n')}\n`;
}
