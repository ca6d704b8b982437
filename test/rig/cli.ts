/**
 * A Dovecot rig for humans: `npm run rig -- start|stop|seed|status`. The rig keeps running after
 * `start` (Dovecot daemonizes); its RigInfo is kept in .rig/state.json in the project root.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createAccount, listAccounts, mailboxStatus } from './accounts.js';
import { type RigInfo, startRig, stopRig } from './dovecot.js';
import { instancePids } from './procs.js';
import { DEFAULT_FOLDERS, type SeedSpec, seedAccount } from './seed.js';

const stateDir = fileURLToPath(new URL('../../.rig/', import.meta.url));
const stateFile = `${stateDir}state.json`;

const DEMO: Array<{ user: string; spec?: SeedSpec; what: string }> = [
  {
    user: 'demo-pop',
    spec: { folders: [{ name: 'INBOX', count: 300, offset: 3000 }], edgeCases: 'INBOX' },
    what: 'POP3 source: INBOX with 300 corpus messages and the edge cases',
  },
  {
    user: 'demo-imap',
    spec: { folders: DEFAULT_FOLDERS, flags: true },
    what: 'IMAP source: nested, special-use and non-ASCII folders, varied flags',
  },
  { user: 'demo-target', what: 'empty target' },
];

function loadState(): RigInfo | undefined {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, 'utf8')) as RigInfo;
}

function running(rig: RigInfo | undefined): rig is RigInfo {
  return rig !== undefined && instancePids(rig.instance, rig.configFile).length > 0;
}

function describeRig(rig: RigInfo): string {
  const p = rig.ports;
  return [
    `  imap  (STARTTLS) 127.0.0.1:${p.imap}    imaps 127.0.0.1:${p.imaps}`,
    `  pop3  (STLS)     127.0.0.1:${p.pop3}    pop3s 127.0.0.1:${p.pop3s}`,
    `  CA file  ${rig.caFile}`,
    `  log      ${rig.logFile}`,
    `  config   ${rig.configFile} (pid ${rig.pid})`,
  ].join('\n');
}

async function start(): Promise<void> {
  const old = loadState();
  if (running(old)) {
    console.log(`rig already running:\n${describeRig(old)}`);
    return;
  }
  const t = performance.now();
  const rig = await startRig();
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(stateFile, `${JSON.stringify(rig, null, 2)}\n`);
  console.log(`rig started in ${Math.round(performance.now() - t)} ms:\n${describeRig(rig)}`);
  console.log('next: npm run rig -- seed');
}

async function stop(): Promise<void> {
  const rig = loadState();
  if (!rig) {
    console.log('no rig state in .rig/state.json: nothing to stop');
    return;
  }
  await stopRig(rig);
  rmSync(stateFile, { force: true });
  console.log(`rig stopped; ${rig.baseDir} removed`);
}

async function seed(rig: RigInfo): Promise<void> {
  for (const demo of DEMO) {
    const password = `${demo.user}-pass`;
    if (!listAccounts(rig).includes(demo.user)) await createAccount(rig, demo.user, password);
    const held = (await mailboxStatus(rig, demo.user)).reduce((n, f) => n + f.messages, 0);
    if (demo.spec && held === 0) {
      const t = performance.now();
      const seeded = await seedAccount(rig, demo.user, demo.spec);
      const ms = Math.round(performance.now() - t);
      console.log(`${demo.user} / ${password}: seeded ${seeded.length} messages in ${ms} ms (${demo.what})`);
    } else {
      console.log(`${demo.user} / ${password}: ${held ? `already holds ${held} messages` : demo.what}`);
    }
  }
  const { ports, caFile } = rig;
  console.log('\ntry:');
  console.log(`  MAILFERRY_SOURCE_PASSWORD=demo-pop-pass MAILFERRY_SINK_PASSWORD=demo-target-pass \\`);
  console.log(
    `    mailferry copy pop3s://demo-pop@127.0.0.1:${ports.pop3s} imaps://demo-target@127.0.0.1:${ports.imaps} \\`,
  );
  console.log(`    --ca-file ${caFile}`);
}

async function status(rig: RigInfo): Promise<void> {
  console.log(`rig running:\n${describeRig(rig)}\n`);
  const users = listAccounts(rig);
  if (users.length === 0) console.log('no accounts (npm run rig -- seed)');
  for (const user of users) {
    const folders = await mailboxStatus(rig, user);
    const total = folders.reduce((n, f) => n + f.messages, 0);
    const detail = folders
      .filter((f) => f.messages > 0)
      .map((f) => `${f.folder}=${f.messages}`)
      .join(' ');
    console.log(`  ${user}: ${total} messages${detail ? ` (${detail})` : ''}`);
  }
}

async function main(command: string | undefined): Promise<void> {
  if (command === 'start') return start();
  if (command === 'stop') return stop();
  if (command === 'seed' || command === 'status') {
    const rig = loadState();
    if (!running(rig)) {
      console.error('rig is not running: npm run rig -- start');
      process.exitCode = 1;
      return;
    }
    return command === 'seed' ? seed(rig) : status(rig);
  }
  console.error('usage: npm run rig -- start|stop|seed|status');
  process.exitCode = 2;
}

main(process.argv[2]).catch((err: Error) => {
  console.error(`rig: ${err.message}`);
  process.exitCode = 1;
});
