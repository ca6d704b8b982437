import { hostname } from 'node:os';

/**
 * Message file names: `<unique>,S=<file size>,W=<CRLF size>:2,<flags>`. The unique part is
 * `<sec>.M<usec>P<pid>Q<n>.<host>` (the Maildir spec's time.pid_counter.host, in Dovecot's
 * spelling); it is the message's id, since flag changes rename only what follows ':'.
 * Flags are the spec's letters, sorted, then keyword letters a–z (dovecot-keywords).
 */

/** System flags and their letters; P (passed) has no IMAP flag and is kept as a keyword. */
const SYSTEM: ReadonlyArray<[string, string]> = [
  ['\\Draft', 'D'],
  ['\\Flagged', 'F'],
  ['\\Answered', 'R'],
  ['\\Seen', 'S'],
  ['\\Deleted', 'T'],
];
const BY_FLAG = new Map(SYSTEM.map(([f, l]) => [f.toLowerCase(), l]));
const BY_LETTER = new Map(SYSTEM.map(([f, l]) => [l, f]));
/** mbsync and mutt write P for a forwarded message. */
const PASSED = '$Forwarded';

export interface ParsedName {
  /** The part before ':' and before any `,S=`/`,W=` field. */
  unique: string;
  /** `,S=`: the file's size. */
  fileSize?: number;
  /** `,W=`: the size with CRLF line ends (RFC822.SIZE). */
  crlfSize?: number;
  /** The letters after `:2,`. */
  letters: string;
}

export function parseName(file: string): ParsedName {
  const colon = file.indexOf(':');
  const base = colon >= 0 ? file.slice(0, colon) : file;
  const info = colon >= 0 ? file.slice(colon + 1) : '';
  const [unique = base, ...fields] = base.split(',');
  const out: ParsedName = { unique, letters: info.startsWith('2,') ? info.slice(2) : '' };
  for (const f of fields) {
    const m = /^([SW])=(\d+)$/.exec(f);
    if (m?.[1] === 'S') out.fileSize = Number(m[2]);
    if (m?.[1] === 'W') out.crlfSize = Number(m[2]);
  }
  return out;
}

/** IMAP flags from the letters; keyword letters are looked up in the folder's keyword list. */
export function flagsOf(letters: string, keywords: readonly string[]): string[] {
  const out: string[] = [];
  for (const ch of letters) {
    const system = BY_LETTER.get(ch);
    if (system) out.push(system);
    else if (ch === 'P') out.push(PASSED);
    else if (ch >= 'a' && ch <= 'z') {
      const kw = keywords[ch.charCodeAt(0) - 97];
      if (kw) out.push(kw);
    }
  }
  return [...new Set(out)];
}

/**
 * Letters for the flags: system letters, then keyword letters from `keywordIndex` (which
 * may add a keyword; undefined when the folder's 26 slots are full). Returns the flags that
 * could not be kept (\Recent is never stored).
 */
export function lettersOf(
  flags: readonly string[],
  keywordIndex: (keyword: string) => number | undefined,
): { letters: string; dropped: string[] } {
  const letters = new Set<string>();
  const dropped: string[] = [];
  for (const flag of flags) {
    const system = BY_FLAG.get(flag.toLowerCase());
    if (system) letters.add(system);
    else if (flag.startsWith('\\')) {
      if (flag.toLowerCase() !== '\\recent') dropped.push(flag);
    } else {
      const i = keywordIndex(flag);
      if (i === undefined) dropped.push(flag);
      else letters.add(String.fromCharCode(97 + i));
    }
  }
  return { letters: [...letters].sort().join(''), dropped };
}

let counter = 0;
const host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072').replace(/,/g, '\\054') || 'localhost';

/** A name no other delivery uses: time, microseconds, pid and a per-process counter, host. */
export function uniqueName(now = Date.now()): string {
  counter += 1;
  const sec = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + (counter % 1000);
  return `${sec}.M${usec}P${process.pid}Q${counter}.${host}`;
}

export function fileName(unique: string, fileSize: number, crlfSize: number, letters: string): string {
  return `${unique},S=${fileSize},W=${crlfSize}:2,${letters}`;
}

/** Pid of a name this host's mailferry wrote (`…P<pid>Q<n>.<host>`), for cleaning tmp/. */
export function ownPid(unique: string): number | undefined {
  const m = /^\d+\.M\d+P(\d+)Q\d+\.(.*)$/.exec(unique);
  return m && m[2] === host ? Number(m[1]) : undefined;
}
