import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describeEndpoint, isServer, parseEndpoint } from '../endpoint.js';
import { MailferryError, UsageError } from '../errors.js';
import { refuseLineBreaks } from '../util/secrets.js';
import { parseCsv } from './csv.js';

/** Where a credential comes from; the CSV and Redis only ever hold this reference. */
export type CredentialRef =
  | { kind: 'file'; path: string }
  | { kind: 'env'; name: string }
  | { kind: 'oauth2'; command: string };

/** One mailbox pair of a batch: plain data (it travels in BullMQ job data as is). */
export interface BatchAccount {
  /** Stable id from the two endpoints (no secrets): the same pair keeps its id across runs. */
  id: string;
  /** CSV line number, for messages. */
  line: number;
  name: string;
  source: string;
  sink: string;
  sourceAuth?: CredentialRef;
  sinkAuth?: CredentialRef;
  include: string[];
  exclude: string[];
  map: string[];
  folder?: string;
  connections?: number;
}

const COLUMNS = [
  'source',
  'sink',
  'source_auth',
  'sink_auth',
  'include',
  'exclude',
  'map',
  'folder',
  'connections',
  'name',
] as const;

const AUTH_HINT = 'write file:PATH, env:NAME or oauth2:COMMAND; never the password itself';

export function parseCredentialRef(text: string, where: string): CredentialRef | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const m = /^(file|env|oauth2):(.+)$/s.exec(t);
  // Say nothing of the value: it may be a password someone pasted.
  if (!m) throw new UsageError(`${where}: not a credential reference`, { hint: AUTH_HINT });
  const value = refuseLineBreaks(where, m[2]!);
  if (m[1] === 'file') return { kind: 'file', path: value };
  if (m[1] === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value))
      throw new UsageError(`${where}: bad environment variable name`, { hint: AUTH_HINT });
    return { kind: 'env', name: value };
  }
  return { kind: 'oauth2', command: value };
}

/** A list column: entries separated by ';' (folder globs and renames hold no ';' in practice). */
function list(text: string | undefined): string[] {
  return (text ?? '')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function pairId(source: string, sink: string): string {
  const a = describeEndpoint(parseEndpoint(source));
  const b = describeEndpoint(parseEndpoint(sink));
  return createHash('sha256').update(`${a}\0${b}`).digest('hex').slice(0, 12);
}

function account(cells: Record<string, string>, line: number, file: string): BatchAccount {
  const at = `${file} line ${line}`;
  const source = cells.source?.trim() ?? '';
  const sink = cells.sink?.trim() ?? '';
  if (!source || !sink) throw new UsageError(`${at}: source and sink are both needed`);
  for (const [side, text] of [
    ['source', source],
    ['sink', sink],
  ] as const) {
    const e = parseEndpoint(text);
    if (isServer(e) && e.urlPassword !== undefined)
      throw new UsageError(`${at}: the ${side} URL holds a password`, { hint: AUTH_HINT });
  }
  const a: BatchAccount = {
    id: pairId(source, sink),
    line,
    name: cells.name?.trim() || describeEndpoint(parseEndpoint(source)),
    source,
    sink,
    include: list(cells.include),
    exclude: list(cells.exclude),
    map: list(cells.map),
  };
  const sa = parseCredentialRef(cells.source_auth ?? '', `${at}: source_auth`);
  const ka = parseCredentialRef(cells.sink_auth ?? '', `${at}: sink_auth`);
  if (sa) a.sourceAuth = sa;
  if (ka) a.sinkAuth = ka;
  if (cells.folder?.trim()) a.folder = cells.folder.trim();
  if (cells.connections?.trim()) {
    const n = Number(cells.connections);
    if (!Number.isInteger(n) || n < 1 || n > 64)
      throw new UsageError(`${at}: bad connections '${cells.connections}'`, { hint: 'give 1-64' });
    a.connections = n;
  }
  return a;
}

/** Reads accounts.csv: a header row naming the columns, then one line per pair. */
export function parseAccounts(text: string, file = 'accounts.csv'): BatchAccount[] {
  const rows = parseCsv(text);
  const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase());
  if (!header.includes('source') || !header.includes('sink'))
    throw new UsageError(`${file}: the first line must name the columns`, {
      hint: `e.g. ${COLUMNS.join(',')}`,
    });
  const unknown = header.filter((h) => h && !(COLUMNS as readonly string[]).includes(h));
  if (unknown.length)
    throw new UsageError(`${file}: unknown column ${unknown.join(', ')}`, {
      hint: `columns are ${COLUMNS.join(', ')}`,
    });
  const out: BatchAccount[] = [];
  const seen = new Map<string, number>();
  rows.slice(1).forEach((cells, i) => {
    if (cells.every((c) => c.trim() === '') || cells[0]?.trim().startsWith('#')) return;
    const rec = Object.fromEntries(header.map((h, j) => [h, cells[j] ?? '']));
    const a = account(rec, i + 2, file);
    const dup = seen.get(a.id);
    if (dup !== undefined)
      throw new UsageError(`${file} line ${a.line}: the same pair as line ${dup}`, {
        hint: 'list each source and sink pair once',
      });
    seen.set(a.id, a.line);
    out.push(a);
  });
  if (!out.length) throw new UsageError(`${file}: no accounts`, { hint: 'add one line per mailbox pair' });
  return out;
}

export function readAccounts(file: string): BatchAccount[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, {
      hint: 'give the path of the accounts CSV',
    });
  }
  try {
    return parseAccounts(text, file);
  } catch (err) {
    if (err instanceof MailferryError) throw err;
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
}
