/**
 * The bundled demo: a private Dovecot seeded with real mail (the SpamAssassin corpus),
 * then mailferry's main jobs on it, each as the real CLI a user would type.
 * Run with `npm run demo`; it stops the server and leaves nothing running.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAccount } from '../test/rig/accounts.js';
import { type RigInfo, startRig, stopRig } from '../test/rig/dovecot.js';
import { DEFAULT_FOLDERS, seedAccount } from '../test/rig/seed.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function mailferry(rig: RigInfo, env: Record<string, string>, ...args: string[]): number {
  const shown = args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ');
  process.stdout.write(`\n$ mailferry ${shown}\n`);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', ...args, '--ca-file', rig.caFile],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: 'inherit',
    },
  );
  return r.status ?? 1;
}

async function main(): Promise<void> {
  process.stdout.write('Starting a private Dovecot on 127.0.0.1 and seeding it with real mail...\n');
  const rig = await startRig();
  let failed = 0;
  try {
    await createAccount(rig, 'demo-pop', 'demo-pop-pass');
    await createAccount(rig, 'demo-imap', 'demo-imap-pass');
    await createAccount(rig, 'demo-target', 'demo-target-pass');
    const pop = await seedAccount(rig, 'demo-pop', {
      folders: [{ name: 'INBOX', count: 300 }],
      edgeCases: 'INBOX',
    });
    const imap = await seedAccount(rig, 'demo-imap', {
      folders: DEFAULT_FOLDERS,
      edgeCases: 'INBOX',
      flags: true,
    });
    process.stdout.write(`Seeded demo-pop with ${pop.length} messages and demo-imap with ${imap.length}.\n`);
    const h = rig.host;
    const popUrl = `pop3s://demo-pop@${h}:${rig.ports.pop3s}`;
    const imapUrl = `imaps://demo-imap@${h}:${rig.ports.imaps}`;
    const targetUrl = `imaps://demo-target@${h}:${rig.ports.imaps}`;
    const state = mkdtempSync(join(tmpdir(), 'mailferry-demo-'));
    const zip = join(state, 'demo-imap.zip');
    const popEnv = {
      MAILFERRY_SOURCE_PASSWORD: 'demo-pop-pass',
      MAILFERRY_SINK_PASSWORD: 'demo-target-pass',
    };
    const imapEnv = { MAILFERRY_SOURCE_PASSWORD: 'demo-imap-pass' };
    const steps: Array<[Record<string, string>, string[]]> = [
      [imapEnv, ['ls', imapUrl]],
      [popEnv, ['ls', popUrl]],
      [popEnv, ['plan', popUrl, targetUrl, '--state-dir', state]],
      [popEnv, ['copy', popUrl, targetUrl, '--state-dir', state, '--progress', 'log']],
      [popEnv, ['verify', popUrl, targetUrl]],
      [imapEnv, ['copy', imapUrl, `zip:${zip}`, '--state-dir', state, '--progress', 'log']],
      [imapEnv, ['verify', imapUrl, `zip:${zip}`]],
      [{}, ['status', '--state-dir', state]],
    ];
    for (const [env, args] of steps) if (mailferry(rig, env, ...args) !== 0) failed++;
    process.stdout.write(`\nThe zip archive is at ${zip}; the checkpoints are in ${state}.\n`);
  } finally {
    await stopRig(rig);
  }
  if (failed) {
    process.stderr.write(`demo: ${failed} step(s) failed\n`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
