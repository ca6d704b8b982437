/**
 * Folder names on disk, as Dovecot writes Maildir++: INBOX is the root, every other folder a
 * directory `.A.B` under it (one '.' per level). Each level is modified UTF-7 (RFC 3501
 * 5.1.3), so `Entwürfe` is `.Entw&APw-rfe` and `R&D` is `.R&-D`. Characters Maildir++ cannot
 * hold in a level ('.', '/', '\', a leading '~') are escaped as `\NN` hex, the way Dovecot's
 * listescape plugin does, so a name is never split or merged by a reader.
 */

export const INBOX = 'INBOX';

export function isInbox(name: string): boolean {
  return name.toUpperCase() === INBOX;
}

/** `a/b` → `.a.b`; INBOX → '' (the root). Logical names use '/' between levels. */
export function folderDir(name: string): string {
  if (isInbox(name)) return '';
  return `.${name.split('/').map(encodeLevel).join('.')}`;
}

/** The other way: a directory name under the root (`.a.b`) → `a/b`; undefined if not a folder. */
export function folderName(dir: string): string | undefined {
  if (!dir.startsWith('.') || dir === '.' || dir === '..') return undefined;
  const levels = dir.slice(1).split('.');
  if (levels.some((l) => l === '')) return undefined;
  return levels.map(decodeLevel).join('/');
}

function encodeLevel(level: string): string {
  let escaped = '';
  for (const [i, ch] of [...level].entries()) {
    const mustEscape = ch === '.' || ch === '/' || ch === '\\' || (i === 0 && ch === '~');
    escaped += mustEscape ? `\\${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : ch;
  }
  return encodeUtf7(escaped);
}

function decodeLevel(level: string): string {
  return decodeUtf7(level).replace(/\\([0-9a-fA-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/** Modified UTF-7: printable ASCII as is ('&' as '&-'), everything else base64 of UTF-16BE. */
export function encodeUtf7(text: string): string {
  let out = '';
  let run = '';
  const flush = () => {
    if (!run) return;
    const utf16 = Buffer.from(run, 'utf16le').swap16();
    out += `&${utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    run = '';
  };
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else run += ch;
  }
  flush();
  return out;
}

export function decodeUtf7(text: string): string {
  return text.replace(/&([^-]*)-/g, (_, b64: string) => {
    if (!b64) return '&';
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    const even = bytes.subarray(0, bytes.length - (bytes.length % 2));
    return Buffer.from(even).swap16().toString('utf16le');
  });
}

/**
 * Dovecot's `subscriptions` file: `V\t2`, an empty line, then one folder a line with its
 * levels joined by TAB, each level in modified UTF-7.
 */
export function parseSubscriptions(text: string): Set<string> {
  const lines = text.split('\n');
  const body = lines[0]?.startsWith('V\t') ? lines.slice(2) : lines;
  const out = new Set<string>();
  for (const line of body) {
    if (!line) continue;
    out.add(line.split('\t').map(decodeUtf7).join('/'));
  }
  return out;
}

export function formatSubscriptions(names: Iterable<string>): string {
  const lines = [...names].sort().map((n) => n.split('/').map(encodeUtf7).join('\t'));
  return `V\t2\n\n${lines.map((l) => `${l}\n`).join('')}`;
}
