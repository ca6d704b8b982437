import { printable } from '../util/secrets.js';
import type { Plan } from './diff.js';
import { standIn } from './folders.js';

const MB = 1024 * 1024;

/** Assumed rate for the estimate until a run has measured one. */
const ESTIMATE_MSGS_PER_S = 200;
const ESTIMATE_BYTES_PER_S = 20 * MB;

export function estimateSeconds(plan: Plan): number {
  const t = plan.totals;
  return Math.ceil(Math.max(t.copy / ESTIMATE_MSGS_PER_S, t.copyBytes / ESTIMATE_BYTES_PER_S));
}

/** Says how a delimiter inside a folder name was written at the sink (see logicalPath in folders.ts). */
function respelledNote(f: Plan['folders'][number]): string | undefined {
  const d = f.target.delimiter;
  const sub = standIn(d);
  if (sub === '_' || !f.target.name.includes(sub) || f.source.name.includes(sub)) return undefined;
  const code = `U+${sub.codePointAt(0)!.toString(16).toUpperCase()}`;
  return `'${d}' inside a name is written '${sub}' (${code}): '${d}' separates folders at the sink`;
}

/** The plan as a person reads it before anything moves. */
export function formatPlan(plan: Plan): string {
  const lines = [`Plan: ${plan.source} -> ${plan.sink}`, ''];
  const width = Math.max(6, ...plan.folders.map((f) => f.source.name.length));
  lines.push(
    `  ${'folder'.padEnd(width)}  ${'target'.padEnd(width)}  ${'copy'.padStart(7)} ${'MB'.padStart(8)} ${'present'.padStart(8)} ${'flags'.padStart(6)}`,
  );
  for (const f of plan.folders) {
    const mb = f.copy.reduce((s, m) => s + m.size, 0) / MB;
    const present = f.unchanged ? (f.sourceStatus?.messages ?? 0) : f.present.length;
    const target = `${f.target.name}${f.create ? ' (new)' : ''}${f.target.specialUse ? ` ${f.target.specialUse}` : ''}`;
    lines.push(
      `  ${printable(f.source.name).padEnd(width)}  ${printable(target).padEnd(width)}  ${String(f.copy.length).padStart(7)} ${mb.toFixed(1).padStart(8)} ${String(present).padStart(8)} ${String(f.flagUpdates.length).padStart(6)}${f.unchanged ? '  unchanged' : ''}`,
    );
    const note = respelledNote(f);
    if (note) lines.push(`    ${note}`);
    for (const s of f.skipped) lines.push(`    skipped ${s.id}: ${s.reason}`);
    if (f.failed) lines.push(`    cannot be read: ${f.failed.reason}`);
  }
  const t = plan.totals;
  lines.push(
    '',
    `To copy: ${t.copy} messages, ${(t.copyBytes / MB).toFixed(1)} MB; already present: ${t.present}; flag updates: ${t.flagUpdates}${t.skipped ? `; skipped: ${t.skipped}` : ''}`,
    `Estimated time: about ${estimateSeconds(plan)} s`,
  );
  return lines.join('\n');
}
