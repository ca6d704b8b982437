import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { corpusMessages } from '../rig/seed.js';

describe('restoring a hostile zip archive', () => {
  it('restores none of the entries that escape the root, reports each, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-hostile-'));
    const zip = join(dir, 'hostile.zip');
    const [good, bad] = corpusMessages(2, 5900);
    const py = `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], 'w')
good, bad = open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
z.writestr('INBOX/000001.eml', good)
for name in ['../evil.eml', '/abs.eml', 'C:\\\\x.eml', 'INBOX/../../b.eml']:
    z.writestr(zipfile.ZipInfo(name), bad)
z.close()`;
    const goodFile = join(dir, 'good');
    const badFile = join(dir, 'bad');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(goodFile, good!);
    writeFileSync(badFile, bad!);
    execFileSync('python3', ['-c', py, zip, goodFile, badFile]);
    const target = await freshAccount('hostile-dst');
    const res = await runCli(
      [
        'copy',
        `zip:${zip}`,
        imapUrl(target.user),
        '--ca-file',
        rig().caFile,
        '--state-dir',
        join(dir, 'state'),
        '--progress',
        'none',
        '--json',
      ],
      { MAILFERRY_SINK_PASSWORD: target.password },
    );
    expect(res.code, res.stderr).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.copied).toBe(1);
    const ids = report.failed.map((f: { id: string; code: string }) => `${f.code} ${f.id}`).sort();
    expect(ids).toHaveLength(4);
    expect(ids.every((i: string) => i.startsWith('EUNSAFE'))).toBe(true);
    expect(ids.join('\n')).toContain('../evil.eml');
    const account = await readAccount(target.user, target.password);
    const total = [...account.values()].reduce((n, m) => n + m.length, 0);
    expect(total).toBe(1);
  });
});
