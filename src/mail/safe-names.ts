import { createHash } from 'node:crypto';

/**
 * Folder names come from servers we do not control. Before one becomes a file or zip entry
 * path it must be safe on Windows, macOS and Linux alike: no escaping the root, no device
 * names, nothing a file system rewrites or refuses. Up to Unicode normalisation the mapping
 * is injective (a literal '%' is encoded too), so two folders never produce the same
 * segments; case folding can still merge two names, which SafePathAllocator resolves.
 */

const WINDOWS_RESERVED =
  /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)(\.|$)/i;
// Control characters, characters Windows forbids, and '%' (our escape character).
const UNSAFE_CHARS = /[\u0000-\u001f\u007f<>:"/\\|?*%]/g;
/** Most file systems allow 255 bytes per name; leave room for '.mbox' or a collision suffix. */
const MAX_SEGMENT_BYTES = 200;

function percent(ch: string): string {
  return [...Buffer.from(ch, 'utf8')]
    .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}

function shortHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 8);
}

/** One name made safe as a single path segment. */
export function safeSegment(name: string): string {
  let seg = name.normalize('NFC').replace(UNSAFE_CHARS, percent);
  if (seg === '') return '%empty';
  // '.' and '..' would navigate; trailing dots and spaces are silently dropped by Windows.
  if (/^\.+$/.test(seg)) seg = seg.replace(/\./g, '%2E');
  seg = seg.replace(/[. ]+$/, (tail) => [...tail].map(percent).join(''));
  if (seg.startsWith(' ')) seg = `%20${seg.slice(1)}`;
  if (WINDOWS_RESERVED.test(seg))
    seg = `${seg.slice(0, 1)}%${seg.charCodeAt(1).toString(16).toUpperCase()}${seg.slice(2)}`;
  if (Buffer.byteLength(seg, 'utf8') > MAX_SEGMENT_BYTES)
    seg = `${truncateUtf8(seg, MAX_SEGMENT_BYTES - 9)}~${shortHash(name)}`;
  return seg;
}

function truncateUtf8(text: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  // Never cut inside a %XX escape.
  return out.replace(/%[0-9A-F]?$/, '');
}

/**
 * Path segments for a folder, safe on every OS. `delimiter` is the folder's hierarchy
 * delimiter at its endpoint ('' or a multi-character value means no hierarchy).
 */
export function safeFolderPath(folder: string, delimiter: string): string[] {
  const parts = delimiter.length === 1 ? folder.split(delimiter) : [folder];
  return parts.map(safeSegment);
}

/**
 * True when `p` is a relative '/'-separated path that stays inside its root on every OS:
 * no absolute path, drive letter, backslash, ':' (drive or NTFS stream), control character,
 * empty, '.' or '..' segment, or Windows device name.
 */
export function isSafeRelativePath(p: string): boolean {
  if (p === '' || p.startsWith('/') || /[\u0000-\u001f\u007f\\:]/.test(p)) return false;
  return p
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..' && !WINDOWS_RESERVED.test(seg));
}

/** Case- and normalisation-insensitive key: how macOS and Windows compare names. */
export function collisionKey(segments: readonly string[]): string {
  return segments.map((s) => s.normalize('NFKC').toLowerCase()).join('/');
}

export interface AllocatorOptions {
  /** Segments the caller uses itself (e.g. message file names); a folder segment matching one gets a suffix. */
  isReserved?: (segment: string, depth: number) => boolean;
}

/**
 * Hands out folder paths that never collide on a case-insensitive file system, at any level:
 * 'INBOX/a' and 'inbox/b' must not share a directory either. Each prefix of a folder is
 * claimed on its own; one that clashes with a prefix already taken gets a suffix derived
 * from its exact name (stable across runs, not a counter that depends on listing order).
 * Mappings from an earlier run (a journal) are reserved first and always win.
 */
export class SafePathAllocator {
  /** Original prefix (joined with NUL) -> its safe segments. */
  private readonly byPrefix = new Map<string, string[]>();
  private readonly taken = new Set<string>();

  constructor(private readonly options: AllocatorOptions = {}) {}

  /** Record a mapping an earlier run already used. */
  reserve(parts: readonly string[], segments: readonly string[]): void {
    for (let i = 1; i <= parts.length; i++) {
      this.byPrefix.set(parts.slice(0, i).join('\u0000'), segments.slice(0, i));
      this.taken.add(collisionKey(segments.slice(0, i)));
    }
  }

  /** Split a folder name into its original parts, as claim() does. */
  static split(folder: string, delimiter: string): string[] {
    return delimiter.length === 1 ? folder.split(delimiter) : [folder];
  }

  claim(folder: string, delimiter: string): string[] {
    const parts = SafePathAllocator.split(folder, delimiter);
    let segments: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const key = parts.slice(0, i + 1).join('\u0000');
      const known = this.byPrefix.get(key);
      if (known) {
        segments = known;
        continue;
      }
      segments = [...segments, this.freeSegment(segments, parts[i]!, key, i)];
      this.byPrefix.set(key, segments);
      this.taken.add(collisionKey(segments));
    }
    return segments;
  }

  private freeSegment(parent: string[], part: string, key: string, depth: number): string {
    const base = safeSegment(part);
    const clashes = (seg: string) =>
      this.taken.has(collisionKey([...parent, seg])) || (this.options.isReserved?.(seg, depth) ?? false);
    let seg = base;
    for (let n = 0; clashes(seg); n++) seg = `${base}~${shortHash(n === 0 ? key : `${key}\u0000${n}`)}`;
    return seg;
  }
}
