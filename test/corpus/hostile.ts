/**
 * Hostile but real-world messages and folder names, generated deterministically (no
 * randomness, no clock), so every run and every pair sees the same bytes. Real mailboxes
 * hold all of these: header blocks that never end, bare CR or LF, NUL bytes, endless lines,
 * mbox "From " lines, invalid UTF-8, empty messages and duplicates.
 */

export interface HostileMessage {
  /** Stable short name; also the .eml file name. */
  name: string;
  raw: Buffer;
  /** What makes it hostile. */
  why: string;
}

const DATE = 'Tue, 1 Oct 2002 10:00:00 +0000';

function head(name: string, subject: string, eol = '\r\n', messageId = true): string {
  const lines = [
    'From: Hostile Sender <sender@example.org>',
    'To: rcpt@example.net',
    `Subject: ${subject}`,
    `Date: ${DATE}`,
    ...(messageId ? [`Message-ID: <hostile-${name}@mailferry.test>`] : []),
  ];
  return lines.map((l) => l + eol).join('');
}

const b = (s: string) => Buffer.from(s, 'latin1');

/** A deterministic pseudo-random byte stream (xorshift32), for the big attachment. */
function pseudoRandom(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function attachment(bytes: number): Buffer {
  const data = pseudoRandom(bytes, 0x5eed).toString('base64').replace(/.{76}/g, '$&\r\n');
  return b(
    `${head('huge-attachment', 'A few MB of base64')}MIME-Version: 1.0\r\n` +
      'Content-Type: multipart/mixed; boundary="b0undary"\r\n\r\n' +
      '--b0undary\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n' +
      '--b0undary\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n' +
      'Content-Disposition: attachment; filename="blob.bin"\r\n\r\n' +
      `${data}\r\n--b0undary--\r\n`,
  );
}

/** Every hostile message, in a fixed order. `bigBytes` sizes the attachment (before base64). */
export function hostileMessages(opts: { bigBytes?: number } = {}): HostileMessage[] {
  const m = (name: string, why: string, raw: Buffer | string): HostileMessage => ({
    name,
    why,
    raw: typeof raw === 'string' ? b(raw) : raw,
  });
  const body = (name: string, subject: string, text: string) => `${head(name, subject)}\r\n${text}`;
  return [
    m(
      'header-only-crlf',
      'header block never ends (no empty line), final CRLF',
      head('header-only-crlf', 'h'),
    ),
    m(
      'header-only-nonl',
      'header block never ends and no final newline',
      head('header-only-nonl', 'h').slice(0, -2),
    ),
    m('no-final-newline', 'body without a final line end', body('no-final-newline', 'n', 'last line')),
    m('bare-lf', 'LF line ends only', `${head('bare-lf', 'lf', '\n')}\nline one\nline two\n`),
    m('bare-cr', 'CR line ends only (old Mac)', `${head('bare-cr', 'cr', '\r')}\rline one\rline two\r`),
    m(
      'mixed-endings',
      'CRLF, LF and CR mixed, also LFCR',
      `${head('mixed-endings', 'mixed')}\r\ncrlf\r\nlf\ncr\rlfcr\n\rend\r\n`,
    ),
    m('nul-body', 'NUL bytes in the body', body('nul-body', 'nul', 'before\0after\r\n\0\0\0\r\n')),
    m('nul-header', 'a NUL byte in a header field', `${head('nul-header', 'nul\0here')}\r\nbody\r\n`),
    m('line-999', 'a line over 998 bytes', body('line-999', 'long', `${'a'.repeat(1500)}\r\n`)),
    m('line-100k', 'a line over 100,000 bytes', body('line-100k', 'longer', `${'b'.repeat(150_000)}\r\n`)),
    m(
      'dot-lines',
      'a lone ".", and lines starting with "." and ".."',
      body('dot-lines', 'dots', '.\r\n.x\r\n..\r\n..y\r\n...\r\n.\r\nend\r\n.\r\n'),
    ),
    m(
      'from-lines',
      '"From " lines in the body, quoted and unquoted',
      body(
        'from-lines',
        'From lines',
        'From the start\r\nFrom x@y Tue Oct  1 10:00:00 2002\r\n>From once\r\n>>From twice\r\n\r\nFrom after a blank line\r\n',
      ),
    ),
    m(
      'from-first-line',
      'starts with an mbox "From " envelope line',
      `From sender@example.org Tue Oct  1 10:00:00 2002\r\n${body('from-first-line', 'envelope', 'hi\r\n')}`,
    ),
    m(
      '8bit-headers',
      'raw Latin-1 and raw UTF-8 in header fields',
      Buffer.concat([
        b(head('8bit-headers', 'Gr\xfc\xdfe aus K\xf6ln')),
        Buffer.from('X-UTF8: 日本語 Entwürfe\r\n\r\nbody\r\n', 'utf8'),
      ]),
    ),
    m(
      'invalid-utf8-headers',
      'invalid UTF-8 sequences in header fields',
      Buffer.concat([
        b(head('invalid-utf8-headers', 'bad ')),
        Buffer.from([
          0x58, 0x2d, 0x42, 0x61, 0x64, 0x3a, 0x20, 0xc3, 0x28, 0xff, 0xfe, 0xe2, 0x82, 0x0d, 0x0a,
        ]),
        b('\r\nbody\r\n'),
      ]),
    ),
    m('empty', 'a 0-byte message', ''),
    m('crlf-only', 'a message that is only CRLF', '\r\n'),
    // Same Message-ID and same size, different bytes: identity alone cannot tell them apart.
    m('same-id-a', 'same Message-ID and size as same-id-b, other body', sameId('AAAA')),
    m('same-id-b', 'same Message-ID and size as same-id-a, other body', sameId('BBBB')),
    m('dup-1', 'byte-identical to dup-2', dup()),
    m('dup-2', 'byte-identical to dup-1', dup()),
    m('no-message-id', 'no Message-ID field', `${head('no-message-id', 'anon', '\r\n', false)}\r\nanon\r\n`),
    m('subject-only', 'a Subject field and nothing else', 'Subject: only a subject\r\n\r\n'),
    m('huge-attachment', 'a few MB of base64', attachment(opts.bigBytes ?? 2 * 1024 * 1024)),
  ];
}

function sameId(text: string): string {
  return `${head('same-id', 'same id')}\r\n${text}\r\n`;
}

function dup(): string {
  return `${head('dup', 'exact duplicate')}\r\nI exist twice.\r\n`;
}

/** Folder names that break naive code: non-ASCII, IMAP wildcards, quotes, dots, length. */
export function hostileFolderNames(): Array<{ name: string; why: string }> {
  return [
    { name: 'Entwürfe', why: 'non-ASCII (Latin)' },
    { name: '日本語', why: 'non-ASCII (CJK)' },
    { name: 'R&D', why: '& (modified UTF-7 escape)' },
    { name: 'With Space', why: 'a space' },
    { name: '100%', why: '% (IMAP LIST wildcard)' },
    { name: 'Star*', why: '* (IMAP LIST wildcard)' },
    { name: 'Say "hi"', why: 'double quotes' },
    { name: '.hidden', why: 'a leading dot' },
    { name: '..', why: 'the parent directory' },
    { name: `Long${'x'.repeat(196)}`, why: '200 characters' },
  ];
}
