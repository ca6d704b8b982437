import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesUnder, copyFrom, hostileDirs } from '../helpers/hostile-run.js';

const MiB = 1024 * 1024;
const good = 'Message-ID: <z1@x>\r\nSubject: good\r\n\r\nkeep me\r\n';

/** A zip with one good .eml and `INBOX/bomb.eml`: `size` bytes of zeros, deflated (zip64 when asked). */
function bomb(dir: string, size: number, opts: { zip64?: boolean; declare?: number } = {}): string {
  const zip = join(dir, 'bomb.zip');
  const py = `import sys, zipfile, struct
path, size, zip64, declare = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1', int(sys.argv[4])
z = zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED)
z.writestr('INBOX/000001.eml', open(sys.argv[5], 'rb').read())
info = zipfile.ZipInfo('INBOX/bomb.eml')
info.compress_type = zipfile.ZIP_DEFLATED
with z.open(info, 'w', force_zip64=zip64) as f:
    f.write(b'Subject: bomb\\r\\n\\r\\n')
    chunk = bytes(1 << 20)
    left = size
    while left > 0:
        f.write(chunk[:min(left, len(chunk))])
        left -= len(chunk)
z.close()
if declare:
    # Lie in the central directory: a small uncompressed size for the bomb entry.
    data = bytearray(open(path, 'rb').read())
    at = data.rfind(b'PK\\x01\\x02', 0, data.rfind(b'INBOX/bomb.eml'))
    struct.pack_into('<I', data, at + 24, declare)
    open(path, 'wb').write(bytes(data))
`;
  const goodFile = join(dir, 'good.eml');
  writeFileSync(goodFile, good);
  execFileSync('python3', [
    '-c',
    py,
    zip,
    String(size),
    opts.zip64 ? '1' : '0',
    String(opts.declare ?? 0),
    goodFile,
  ]);
  return zip;
}

describe('a hostile zip archive', () => {
  it('a zip64 bomb (1 GiB of zeros in about 1 MiB) is refused, not restored, and the rest is', async () => {
    const d = hostileDirs('zipbomb');
    const zip = bomb(d.dir, 1024 * MiB, { zip64: true });
    const res = await copyFrom(`zip:${zip}`, `mbox:${d.sink}`, d.state, [], {});
    expect(res.code, res.stderr).toBe(1);
    expect(res.report!.failed.map((f) => [f.id, f.code])).toEqual([['INBOX/bomb.eml', 'EUNSAFE']]);
    expect(res.report!.failed[0]!.reason).toMatch(/zip bomb/);
    expect(bytesUnder(d.sink)).toBeLessThan(MiB);
    expect(readFileSync(join(d.sink, 'INBOX.mbox'), 'latin1')).toContain('keep me');
    expect(res.peakMb).toBeLessThan(300);
  });

  it('an entry that inflates past its declared size fails, and none of it stays in the sink', async () => {
    const d = hostileDirs('ziplie');
    const zip = bomb(d.dir, 64 * MiB, { declare: 100_000 });
    const res = await copyFrom(`zip:${zip}`, `mbox:${d.sink}`, d.state, [], {});
    expect(res.code, res.stderr).toBe(1);
    expect(res.report!.failed.map((f) => f.id)).toEqual(['INBOX/bomb.eml']);
    expect(bytesUnder(d.sink)).toBeLessThan(MiB);
    expect(existsSync(join(d.sink, 'INBOX.mbox'))).toBe(true);
  });

  it('a stored entry shorter than declared fails with one line, not a crash with a stack trace', async () => {
    const d = hostileDirs('zipshort');
    const zip = join(d.dir, 'short.zip');
    const py = `import sys, zipfile, struct
z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED)
z.writestr('INBOX/1.eml', b'Message-ID: <s1@x>\\r\\n\\r\\nok\\r\\n')
z.writestr('INBOX/2.eml', b'Message-ID: <s2@x>\\r\\n\\r\\n' + b'y' * 1000 + b'\\r\\n')
z.close()
d = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('<I', d, d.rfind(b'PK\\x01\\x02') + 24, 1500)
struct.pack_into('<I', d, d.rfind(b'PK\\x03\\x04') + 22, 1500)
open(sys.argv[1], 'wb').write(bytes(d))
`;
    execFileSync('python3', ['-c', py, zip]);
    const res = await copyFrom(`zip:${zip}`, `mbox:${d.sink}`, d.state, [], {});
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).not.toMatch(/Unhandled| {4}at /);
    expect(res.report!.failed.map((f) => f.id)).toEqual(['INBOX/2.eml']);
    expect(readFileSync(join(d.sink, 'INBOX.mbox'), 'latin1')).not.toContain('yyyy');
  });
});
