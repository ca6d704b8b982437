import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What npm installs: the packed tarball, unpacked away from the checkout, run from another
 * directory. No package.json is beside the bundle's caller there, so yargs alone said `unknown`.
 */
it('mailferry --version from the npm tarball prints the package version', () => {
  const want = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
  const dir = mkdtempSync(join(tmpdir(), 'mf-pack-'));
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const tgz = join(dir, out.trim().split('\n').at(-1)!);
  const installed = join(dir, 'installed');
  execFileSync('mkdir', ['-p', installed]);
  execFileSync('tar', ['-xzf', tgz, '-C', installed]);
  const bin = join(installed, 'package', 'dist', 'mailferry.mjs');
  const cwd = mkdtempSync(join(tmpdir(), 'mf-cwd-'));
  const printed = execFileSync(process.execPath, [bin, '--version'], { cwd, encoding: 'utf8' });
  expect(printed.trim()).toBe(want);
  expect(want).toMatch(/^\d+\.\d+\.\d+/);
}, 60_000);
