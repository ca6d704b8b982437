/**
 * Configuration errors the README gives exit 2: an option out of its range, and a path the
 * user named that cannot be read or written. One line each, and nothing copied.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, collect, errorLines, runCli, shippedCli, spawnCli } from '../helpers/cli.js';

let root: string;
let source: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mf-cfg-'));
  chmodSync(root, 0o777);
  source = join(root, 'src');
  mkdirSync(source, { mode: 0o755 });
  writeFileSync(
    join(source, 'INBOX'),
    'From a@b Thu Jan  1 00:00:00 2024\nMessage-ID: <1@cfg>\nSubject: x\n\nhello\n',
    { mode: 0o644 },
  );
});

/** A place of its own for each run, writable by the unprivileged user too. */
function fresh(name: string): string {
  const dir = mkdtempSync(join(root, `${name}-`));
  chmodSync(dir, 0o777);
  return join(dir, name);
}

describe('option ranges', () => {
  it.each([
    ['--retries', '-1', /bad --retries -1 \(give a whole number from 0 to 100\)/],
    ['--connections', '100000', /bad --connections 100000 \(give a whole number from 1 to 64\)/],
    ['--connections', '0', /bad --connections 0/],
    ['--timeout', '3000000', /bad --timeout 3000000 \(give a number from 1 to 86400\)/],
    ['--max-messages-per-second', '1e-9', /bad --max-messages-per-second 1e-9 \(give a number from 0.001/],
    ['--max-messages-per-second', '0', /bad --max-messages-per-second 0/],
    ['--max-messages-per-second', 'abc', /bad --max-messages-per-second NaN/],
    ['--max-messages-per-second', 'Infinity', /bad --max-messages-per-second Infinity/],
    ['--max-bytes-per-second', '0', /bad --max-bytes-per-second '0'/],
    ['--max-throttle-wait', '-5', /bad --max-throttle-wait -5/],
  ])('%s %s: exit 2, one line naming the option and its range', async (opt, value, want) => {
    const out = fresh('out');
    const res = await runCli(
      [
        'copy',
        `mbox:${source}`,
        `mbox:${out}`,
        `${opt}=${value}`,
        '--state-dir',
        fresh('st'),
        '--progress',
        'none',
      ],
      {},
      true,
    );
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr)).toEqual([expect.stringMatching(want)]);
    expect(existsSync(out)).toBe(false);
  });
});

/** The CLI as an ordinary user: root reads and writes through any file mode. */
function runUnprivileged(args: string[]): Promise<CliResult> {
  const cli = shippedCli();
  const argv = [...cli.args, ...args, '--progress', 'none'];
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'setpriv' : cli.cmd;
  const full = asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', cli.cmd, ...argv] : argv;
  return collect(
    spawn(cmd, full, { env: { ...process.env, ...cli.env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

describe('paths that cannot be used', () => {
  let readOnly: string;
  beforeAll(() => {
    readOnly = join(root, 'ro');
    mkdirSync(readOnly, { mode: 0o555 });
    chmodSync(readOnly, 0o555);
  });

  it.each([
    [
      'an unwritable state directory',
      () => ['--state-dir', join(readOnly, 'st')],
      /cannot write the state directory .*: EACCES/,
    ],
    [
      'an unwritable --log-file',
      () => ['--log-file', join(readOnly, 'log'), '--state-dir', fresh('st')],
      /cannot write the --log-file .*: EACCES/,
    ],
  ])('%s: exit 2 with one line', async (_name, extra, want) => {
    const res = await runUnprivileged(['copy', `mbox:${source}`, `mbox:${fresh('out')}`, ...extra()]);
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr)).toEqual([expect.stringMatching(want)]);
  });

  it('an mbox directory or zip archive that cannot be created: exit 2 with one line', async () => {
    for (const [sink, want] of [
      [`mbox:${join(readOnly, 'out')}`, /cannot open the mbox sink .*: EACCES/],
      [`zip:${join(readOnly, 'out.zip')}`, /cannot open the zip sink .*: EACCES/],
    ] as const) {
      const res = await runUnprivileged(['copy', `mbox:${source}`, sink, '--state-dir', fresh('st')]);
      expect(res.code, sink).toBe(2);
      expect(errorLines(res.stderr)).toEqual([expect.stringMatching(want)]);
    }
  });

  it('an unreadable password file: exit 2 with one line, before connecting', async () => {
    const pw = join(root, 'pw');
    writeFileSync(pw, 'secret\n', { mode: 0o600 });
    chmodSync(pw, 0o000);
    const res = await runUnprivileged([
      'copy',
      'imaps://me@127.0.0.1:9',
      `mbox:${fresh('out')}`,
      '--source-password-file',
      pw,
      '--state-dir',
      fresh('st'),
    ]);
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr)).toEqual([
      expect.stringMatching(/cannot read the source password file .*: EACCES/),
    ]);
  });
});

describe('the smallest accepted rates still limit', () => {
  it('--max-bytes-per-second 1 holds a 70-byte message back, and Ctrl-C still stops at once', async () => {
    const out = fresh('out');
    const child = spawnCli(
      [
        'copy',
        `mbox:${source}`,
        `mbox:${out}`,
        '--max-bytes-per-second',
        '1',
        '--state-dir',
        fresh('st'),
        '--progress',
        'none',
        '--json',
      ],
      {},
      true,
    );
    const done = collect(child);
    // Unlimited, the copy takes well under a second; at 1 B/s it needs over a minute.
    await delay(3000);
    child.kill('SIGTERM');
    const res = await done;
    expect(res.code).toBe(130);
    expect(JSON.parse(res.stdout)).toMatchObject({ copied: 0, failed: [] });
  });
});
