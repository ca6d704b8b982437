/**
 * A realistic mailbox, deterministic from a seed: the size mix of issue 12 (median ~10 KB,
 * 10% with 20 KB–1.2 MB base64 attachments, ~1% with 1.5–6 MB, average 50–100 KB), multipart/mixed
 * with the headers real clients write, text taken from the SpamAssassin corpus. Attachment bytes are
 * mostly incompressible (as PDFs and JPEGs are), some text-like (CSV, logs).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { corpusMessages, corpusSize } from '../test/rig/seed.js';

/** Folder shares of a real account: inbox, sent, one archive, trash. */
export const REALISTIC_FOLDERS = [
  { name: 'INBOX', share: 0.55 },
  { name: 'Sent', share: 0.2 },
  { name: 'Archive/2002', share: 0.2 },
  { name: 'Trash', share: 0.05 },
] as const;

/** n split by REALISTIC_FOLDERS; INBOX takes the rounding. */
export function realisticFolders(n: number): Array<{ name: string; count: number }> {
  const counts = REALISTIC_FOLDERS.map((f) => Math.floor(f.share * n));
  counts[0]! += n - counts.reduce((s, c) => s + c, 0);
  return REALISTIC_FOLDERS.map((f, i) => ({ name: f.name, count: counts[i]! }));
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(...parts: Array<string | number>): Buffer {
  return createHash('sha256').update(parts.join(':')).digest();
}

/** Incompressible bytes, deterministic: an AES-CTR keystream (fast: no per-byte JavaScript). */
function noise(bytes: number, key: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return cipher.update(Buffer.alloc(bytes));
}

const logUniform = (r: () => number, lo: number, hi: number) => Math.round(lo * (hi / lo) ** r());
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

let bodies: string[] | undefined;

/** Plain-text bodies of the corpus (headers cut off, 8-bit bytes kept as latin1), loaded once. */
function corpusBodies(): string[] {
  if (!bodies) {
    bodies = corpusMessages(Math.min(corpusSize(), 1500))
      .map((raw) => raw.toString('latin1'))
      .filter((t) => !/^content-type:\s*multipart/im.test(t.slice(0, t.indexOf('\n\n'))))
      .map((t) => t.slice(t.indexOf('\n\n') + 2).replace(/\r/g, ''))
      .filter((b) => b.length > 200 && !/^[A-Za-z0-9+/=]{60,}$/m.test(b));
  }
  return bodies;
}

/** About `bytes` of text made of whole corpus bodies, cut at a line end. */
function text(r: () => number, bytes: number): string {
  const all = corpusBodies();
  let out = '';
  while (out.length < bytes) out += `${pick(r, all)}\n`;
  const cut = out.lastIndexOf('\n', bytes);
  return out.slice(0, cut > 0 ? cut + 1 : bytes);
}

function html(body: string): string {
  const esc = body.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const paras = esc.split(/\n{2,}/).map((p) => `<p>${p.replace(/\n/g, '<br>\n')}</p>`);
  return `<html><head><meta charset="iso-8859-1"></head><body>\n${paras.join('\n')}\n</body></html>\n`;
}

function base64Lines(data: Buffer): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return `${lines.join('\n')}\n`;
}

const NAMES = ['Alice Martin', 'Bob Keller', 'Chloé Dubois', 'Dan Novak', 'Eva Lindqvist', 'Farid Haddad'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example'];
const MAILERS = ['Mozilla Thunderbird 115.6', 'Apple Mail (2.3731)', 'Microsoft Outlook 16.0', 'mutt/2.2.12'];
const SUBJECTS = [
  'Quarterly figures',
  'Re: meeting notes',
  'Invoice',
  'Fwd: photos',
  'Draft contract',
  'Trip',
];
const ATTACH = [
  { type: 'application/pdf', ext: 'pdf', textual: false },
  { type: 'image/jpeg', ext: 'jpg', textual: false },
  { type: 'application/zip', ext: 'zip', textual: false },
  { type: 'text/csv', ext: 'csv', textual: true },
  { type: 'text/plain', ext: 'log', textual: true },
] as const;

function address(r: () => number): string {
  const name = pick(r, NAMES);
  const local = name
    .split(' ')[0]!
    .toLowerCase()
    .normalize('NFD')
    .replace(/[^a-z]/g, '');
  return `${name} <${local}@${pick(r, DOMAINS)}>`;
}

/** Dates spread over 2015–2024, in the past as a real mailbox's are. */
function date(index: number, r: () => number): string {
  const ms = Date.UTC(2015, 0, 1) + index * 5 * 3600_000 + Math.floor(r() * 3600_000);
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}

function headers(seed: number, index: number, r: () => number, boundary: string): string[] {
  const id = seedOf(seed, index, 'id').toString('hex').slice(0, 20);
  const from = address(r);
  const h = [
    `Return-Path: <${/<(.+)>/.exec(from)![1]}>`,
    `Received: from mx${Math.floor(r() * 9)}.example.net (mx.example.net [192.0.2.${Math.floor(r() * 250)}])\n\tby imap.example.com with ESMTPS id ${id.slice(0, 12)}\n\tfor <me@example.com>; ${date(index, r)}`,
    `Date: ${date(index, r)}`,
    `From: ${from}`,
    `To: ${address(r)}`,
  ];
  if (r() < 0.3) h.push(`Cc: ${address(r)}, ${address(r)}`);
  h.push(`Subject: ${pick(r, SUBJECTS)} #${index}`, `Message-ID: <${id}.${index}@${pick(r, DOMAINS)}>`);
  if (r() < 0.4)
    h.push(
      `In-Reply-To: <${seedOf(seed, index - 1, 'id')
        .toString('hex')
        .slice(0, 20)}@example.com>`,
    );
  h.push(
    `X-Mailer: ${pick(r, MAILERS)}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
  );
  return h;
}

/** The body parts: text alone, or text and HTML as multipart/alternative (about half). */
function textParts(r: () => number, bytes: number, boundary: string): string[] {
  const plain = 'Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n';
  if (r() < 0.5) return [`${plain}\n${text(r, bytes)}`];
  const body = text(r, Math.round(bytes * 0.4));
  const alt = `${boundary}-alt`;
  return [
    `Content-Type: multipart/alternative; boundary="${alt}"\n\n--${alt}\n${plain}\n${body}\n--${alt}\nContent-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n${html(body)}\n--${alt}--\n`,
  ];
}

function attachment(seed: number, index: number, k: number, r: () => number, bytes: number): string {
  const kind = pick(r, ATTACH);
  const data = kind.textual
    ? Buffer.from(text(r, bytes), 'latin1')
    : noise(bytes, seedOf(seed, index, 'attachment', k));
  const name = `${pick(r, SUBJECTS).replace(/\W+/g, '-').toLowerCase()}-${index}-${k}.${kind.ext}`;
  return `Content-Type: ${kind.type}; name="${name}"\nContent-Disposition: attachment; filename="${name}"\nContent-Transfer-Encoding: base64\n\n${base64Lines(data)}`;
}

/**
 * Decoded attachment sizes of one message: none (89%), 20 KB–1.2 MB (10%), 1.5–6 MB (1%), sizes
 * as they stand in the message (base64 makes 3 bytes 4, plus line ends).
 */
function attachmentSizes(r: () => number): number[] {
  const decoded = (encoded: number) => Math.round(encoded * 0.74);
  const c = r();
  if (c < 0.01) return [decoded(1.5e6 + r() * 4.5e6)];
  if (c >= 0.11) return [];
  const sizes = [decoded(logUniform(r, 20_000, 1_200_000))];
  if (r() < 0.2) sizes.push(decoded(logUniform(r, 20_000, 200_000)));
  return sizes;
}

/** Message `index` of the corpus seeded by `seed`; LF line ends, as the SpamAssassin files have. */
export function realisticMessage(seed: number, index: number): Buffer {
  const r = rng(seedOf(seed, index).readUInt32LE(0));
  const boundary = `=_mf${seedOf(seed, index, 'b').toString('hex').slice(0, 16)}`;
  // Text: log-normal around 9 KB (plus ~1 KB of headers), 1.5–80 KB.
  const gauss = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const textBytes = Math.min(80_000, Math.max(1500, Math.round(9000 * Math.exp(0.7 * gauss))));
  const parts = textParts(r, textBytes, boundary);
  attachmentSizes(r).forEach((bytes, k) => {
    parts.push(attachment(seed, index, k, r, bytes));
  });
  const head = headers(seed, index, r, boundary).join('\n');
  const body = parts.map((p) => `--${boundary}\n${p}`).join('\n');
  return Buffer.from(
    `${head}\n\nThis is a multi-part message in MIME format.\n\n${body}\n--${boundary}--\n`,
    'latin1',
  );
}

/** A small text-only message (1–4 KB) for the one-big-folder memory run. */
export function smallMessage(seed: number, index: number): Buffer {
  const r = rng(seedOf(seed, index, 'small').readUInt32LE(0));
  const id = seedOf(seed, index, 'small-id').toString('hex').slice(0, 20);
  const head = [
    `Date: ${date(index % 50_000, r)}`,
    `From: ${address(r)}`,
    `To: ${address(r)}`,
    `Subject: ${pick(r, SUBJECTS)} #${index}`,
    `Message-ID: <${id}.${index}@${pick(r, DOMAINS)}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: 8bit',
  ];
  return Buffer.from(`${head.join('\n')}\n\n${text(r, logUniform(r, 800, 3500))}`, 'latin1');
}
