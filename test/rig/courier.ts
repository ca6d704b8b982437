import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AUTHDAEMONRC, COURIER_ROOT, courierPaths, startScript } from './courier-config.js';
import { courierNamespace } from './courier-probe.js';
import {
  alive,
  killLeader,
  launch,
  namespaceInit,
  namespacePids,
  waitNamespaceGone,
} from './courier-procs.js';
import type { ServerDriver, ServerInfo, ServerPorts } from './servers.js';
import { ensureMailUser, freePorts, makeCertificate, run, waitForListeners } from './system.js';

/**
 * A private Courier IMAP + POP3 (plain with STARTTLS/STLS, and implicit TLS) on 127.0.0.1,
 * authenticating against its own userdb. It runs as root in its own mount and pid namespaces
 * (courier-config.ts says why): the host's /etc, /run and /usr are never changed, and killing
 * the namespace's first process ends every process of the instance.
 */

/** Exit handlers of the instances this process started, by base dir. */
const exitHandlers = new Map<string, () => void>();

function prepareDirs(baseDir: string): void {
  const p = courierPaths(baseDir);
  // imapd runs as the mail user and must reach the homes below.
  chmodSync(baseDir, 0o755);
  for (const dir of [
    p.etcDir,
    join(p.runDir, 'authdaemon'),
    join(p.etcTop, 'courier'),
    join(p.runTop, 'courier'),
  ])
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  // makeuserdb refuses a userdb that group or others may read.
  for (const dir of [p.userdbDir, p.stagingDir]) mkdirSync(dir, { mode: 0o700 });
  mkdirSync(p.homeDir, { mode: 0o755 });
  writeFileSync(join(p.etcDir, 'authdaemonrc'), AUTHDAEMONRC, { mode: 0o644 });
}

/**
 * couriertls, started for STARTTLS/STLS, drops privileges to the user "courier": give the
 * namespace a passwd and group (laid over the host's /etc) that map it to the mail user.
 */
function writeCourierUser(baseDir: string, uid: number, gid: number): void {
  const top = courierPaths(baseDir).etcTop;
  const add = (file: string, line: string) => {
    const host = readFileSync(join('/etc', file), 'utf8');
    const has = host.split('\n').some((l) => l.startsWith('courier:'));
    writeFileSync(join(top, file), has ? host : `${host.replace(/\n?$/, '\n')}${line}\n`, { mode: 0o644 });
  };
  add('passwd', `courier:x:${uid}:${gid}:Courier rig:/nonexistent:/usr/sbin/nologin`);
  add('group', `courier:x:${gid}:`);
}

async function writeTlsPem(baseDir: string, uid: number, gid: number): Promise<void> {
  const p = courierPaths(baseDir);
  await makeCertificate(p.caFile, p.keyFile);
  const pem = Buffer.concat([readFileSync(p.keyFile), readFileSync(p.caFile)]);
  const file = join(p.etcDir, 'tls.pem');
  writeFileSync(file, pem, { mode: 0o600 });
  // For STARTTLS couriertls runs as "courier", mapped to the mail user (writeCourierUser).
  chownSync(file, uid, gid);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitReady(ports: ServerPorts, caFile: string, leader: number): Promise<void> {
  let ready = false;
  const exited = (async () => {
    while (!ready && alive(leader)) await sleep(25);
    if (!ready) throw new Error('Courier exited during startup');
  })();
  try {
    await Promise.race([exited, waitForListeners(ports, caFile)]);
  } finally {
    ready = true; // ends the watch loop either way
    await exited.catch(() => undefined);
  }
}

/** Start the namespace on free ports; a port taken by someone else in between means a retry. */
async function startOnFreePorts(baseDir: string) {
  const p = courierPaths(baseDir);
  for (let attempt = 1; ; attempt++) {
    const [imap, imaps, pop3, pop3s] = await freePorts(4);
    const ports = { imap: imap!, imaps: imaps!, pop3: pop3!, pop3s: pop3s! };
    writeFileSync(p.startScript, startScript(baseDir, ports), { mode: 0o644 });
    const leader = launch(baseDir);
    try {
      await waitReady(ports, p.caFile, leader);
      const init = namespaceInit(leader);
      if (!init) throw new Error('Courier namespace has no first process');
      return { ports, leader, init };
    } catch (err) {
      killLeader(leader, baseDir);
      const log = tail(p.logFile);
      if (attempt >= 3 || !/in use/i.test(log)) {
        throw new Error(`Courier did not start: ${(err as Error).message}; ${p.logFile}:\n${log}`);
      }
    }
  }
}

function removeBaseDir(baseDir: string): void {
  if (process.env.MAILFERRY_RIG_KEEP === '1') return;
  try {
    rmSync(baseDir, { recursive: true, force: true });
  } catch {
    // a straggler still writing; the temp dir stays
  }
}

/** Last resort if stop() never runs (vitest interrupted): end the namespace synchronously. */
function killOnExit(info: ServerInfo): void {
  const handler = () => {
    killLeader(Number(info.extra.leaderPid), info.baseDir);
    // Only synchronous work runs in an exit handler: short sleeps until the namespace is empty.
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 250 && namespacePids(info.extra.pidNs!).length > 0; i++) Atomics.wait(nap, 0, 0, 20);
    removeBaseDir(info.baseDir);
  };
  process.once('exit', handler);
  exitHandlers.set(info.baseDir, handler);
}

async function start(): Promise<ServerInfo> {
  const { uid, gid } = await ensureMailUser();
  const baseDir = mkdtempSync(join(tmpdir(), 'mailferry-courier-'));
  const p = courierPaths(baseDir);
  let started: Awaited<ReturnType<typeof startOnFreePorts>>;
  try {
    prepareDirs(baseDir);
    writeCourierUser(baseDir, uid, gid);
    await writeTlsPem(baseDir, uid, gid);
    started = await startOnFreePorts(baseDir);
  } catch (err) {
    removeBaseDir(baseDir);
    throw err;
  }
  const { ports, leader, init } = started;
  const info: ServerInfo = {
    kind: 'courier',
    host: '127.0.0.1',
    ports,
    caFile: p.caFile,
    baseDir,
    namespace: { prefix: 'INBOX.', delimiter: '.' },
    extra: {
      leaderPid: String(leader),
      initPid: String(init),
      pidNs: readlinkSync(`/proc/${init}/ns/pid`),
      logFile: p.logFile,
      mailUid: String(uid),
      mailGid: String(gid),
    },
  };
  killOnExit(info);
  try {
    // Courier's default namespace, checked with a real NAMESPACE rather than assumed.
    await createAccount(info, 'rigprobe', 'rigprobe-pw');
    info.namespace = await courierNamespace(ports.imap, 'rigprobe', 'rigprobe-pw');
  } catch (err) {
    await stop(info);
    throw err;
  }
  return info;
}

async function stop(info: ServerInfo): Promise<void> {
  const handler = exitHandlers.get(info.baseDir);
  if (handler) process.off('exit', handler);
  exitHandlers.delete(info.baseDir);
  killLeader(Number(info.extra.leaderPid), info.baseDir);
  const pidNs = info.extra.pidNs!;
  if (!(await waitNamespaceGone(pidNs, 10_000))) {
    throw new Error(`Courier in ${info.baseDir} did not exit: ${namespacePids(pidNs).join(' ')}`);
  }
  removeBaseDir(info.baseDir);
}

/** Courier compares {SHA256} with base64(SHA-256(password)); no helper process sees the password. */
function passwordHash(password: string): string {
  return `{SHA256}${createHash('sha256').update(password, 'utf8').digest('base64')}`;
}

/** Run a command inside the instance's mount namespace, where Courier's paths are valid. */
async function inNamespace(info: ServerInfo, args: string[]): Promise<void> {
  try {
    await run('nsenter', ['-t', info.extra.initPid!, '-m', '--', ...args]);
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

async function createAccount(info: ServerInfo, user: string, password: string): Promise<void> {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(user)) {
    throw new Error(`bad Courier rig user name ${JSON.stringify(user)}: lowercase letters, digits, . _ -`);
  }
  const p = courierPaths(info.baseDir);
  const [uid, gid] = [Number(info.extra.mailUid), Number(info.extra.mailGid)];
  const home = join(p.homeDir, user);
  const maildir = join(home, 'Maildir');
  if (!existsSync(maildir)) {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    await inNamespace(info, ['/usr/bin/maildirmake.courier', maildir]);
    for (const dir of [home, maildir, ...['cur', 'new', 'tmp'].map((d) => join(maildir, d))])
      chownSync(dir, uid, gid);
  }
  const fields = [`uid=${uid}`, `gid=${gid}`, `home=${home}`, `mail=${maildir}`];
  const line = `${user}\t${fields.join('|')}|systempw=${passwordHash(password)}\n`;
  const staged = join(p.stagingDir, `${user}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  writeFileSync(staged, line, { mode: 0o600 });
  renameSync(staged, join(p.userdbDir, user));
  // makeuserdb holds an flock on userdb.lock while it compiles: concurrent calls serialise there,
  // and each compiles every account file present, its own included.
  await inNamespace(info, ['/usr/sbin/makeuserdb']);
}

export const courierDriver: ServerDriver = {
  kind: 'courier',
  available: () =>
    existsSync(join(COURIER_ROOT, '.installed')) &&
    existsSync(join(COURIER_ROOT, 'usr/bin/imapd')) &&
    process.getuid?.() === 0,
  start,
  stop,
  createAccount,
};
