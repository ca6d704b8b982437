/**
 * The bounds mailferry puts on what a server or an archive declares and sends, so a hostile
 * or broken one costs a failed message or folder, never the machine's memory or disk.
 * docs/decisions.md "Limits mailferry enforces" says why each number is what it is.
 */

/** Headroom over a declared size: servers count line ends differently, and some add a little. */
const SLACK_BYTES = 64 * 1024;

/** The most bytes accepted for a message (or entry) that declared `declared` bytes. */
export function allowedBytes(declared: number): number {
  return declared + Math.max(SLACK_BYTES, Math.floor(declared / 16));
}

/** Partial-fetch window for large IMAP messages (and POP3's equivalent): one chunk in memory at a time. */
export const LARGE_CHUNK = 1024 * 1024;

/** Longest protocol line without a literal: a FETCH line of flags, a LIST or STATUS line. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** Parse-tree nodes in one IMAP response; an honest FETCH or LIST line has a few dozen. */
export const MAX_RESPONSE_TOKENS = 100_000;

/**
 * imapflow's parser limits for one connection. Every literal mailferry asks for is a whole
 * message of at most `largeMessageBytes` (declared), a window of LARGE_CHUNK, or a header
 * block, so a literal past the larger of the two (plus slack) is refused at its `{n}` marker,
 * before a byte of it is held.
 */
export function imapParserLimits(largeMessageBytes: number): {
  maxLiteralSize: number;
  maxLineLength: number;
  maxResponseSize: number;
  maxResponseTokens: number;
} {
  const literal = allowedBytes(Math.max(largeMessageBytes, LARGE_CHUNK));
  return {
    maxLiteralSize: literal,
    maxLineLength: MAX_LINE_BYTES,
    maxResponseSize: literal + MAX_LINE_BYTES,
    maxResponseTokens: MAX_RESPONSE_TOKENS,
  };
}

/** Error codes imapflow's parser gives a reply past those limits. */
export const OVERSIZE_CODES = new Set([
  'LiteralTooLarge',
  'LineTooLarge',
  'ResponseTooLarge',
  'TooManyTokens',
]);

/** A POP3 LIST or UIDL line: a number, a space, a UIDL of at most 70 characters (RFC 1939), CRLF. */
export const MAX_LISTING_LINE = 96;

/** Inventory rows accepted for a folder that said it holds `exists` messages (mail may arrive meanwhile). */
export function inventoryCap(exists: number): number {
  return exists + Math.max(1000, exists);
}

/** True for an imapflow parser refusal, also once mapped (it stays the cause). */
export function isOversize(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 3; i++) {
    if (typeof e.code === 'string' && OVERSIZE_CODES.has(e.code)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * Mail deflates 2-10x (base64 attachments barely at all); deflate's ceiling is about 1032x, which
 * only runs of one byte reach. An entry declaring more than this ratio (and over a MiB) is a
 * bomb, refused before a byte is inflated: its declared size is honest, just absurd.
 */
export const MAX_INFLATE_RATIO = 100;
const BOMB_FLOOR = 1024 * 1024;

/** Why an archive entry is not worth inflating, or undefined. */
export function bombReason(size: number, compressedSize: number): string | undefined {
  if (size <= BOMB_FLOOR || size <= compressedSize * MAX_INFLATE_RATIO) return undefined;
  const ratio = Math.round(size / Math.max(1, compressedSize));
  return `declares ${size} bytes from ${compressedSize} compressed (${ratio}x, a zip bomb); not opened`;
}
