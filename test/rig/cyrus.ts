import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'node:tls';
import { CYRUS_BIN, CYRUS_LIBS, cyrusConf, cyrusPaths, imapdConf, SASLPASSWD } from './cyrus-config.js';
import { DIR_PREFIX, killCyrus, killOnExit, reapOrphans } from './cyrus-procs.js';
import type { ServerDriver, ServerInfo, ServerPorts } from './servers.js';
import { ensureMailUser, freePorts, MAIL_USER, makeCertificate, waitForListeners } from './system.js';

/**
 * A private Cyrus IMAP 3.6 (Debian's build, unpacked by scripts/install-cyrus.sh) on 127.0.0.1:
 * IMAP with STARTTLS, IMAPS, POP3 with STLS and POP3S. Passwords live in the instance's own
 * sasldb; mailboxes are created by an admin login (CREATE user.<name>), as cyradm would.
 */

const ADMIN = 'mfadmin';
/** SASL realm of every sasldb entry; Cyrus looks users up under its servername (cyrus-config.ts). */
const REALM = 'cyrus-rig';
const MASTER = join(CYRUS_BIN, 'master');

/** Exit-handler removers of the instances this process started, by base dir. */
const exitHooks = new Map<string, () => void>();

/** Run a command with `input` on stdin (passwords never go on a command line). */
function runWithInput(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${stderr.trim()}`)),
    );
    child.stdin.end(input);
  });
}

/**
 * Add a user to the sasldb. Workers create accounts concurrently and imapd reads the file at every
 * login: so updates are serialized with flock and made on a copy that is renamed into place.
 */
async function saslAdd(baseDir: string, user: string, password: string): Promise<void> {
  const p = cyrusPaths(baseDir);
  const script =
    'set -e; tmp="$1.new.$$"; if [ -e "$1" ]; then cp -p "$1" "$tmp"; fi;' +
    ' "$2" -p -c -u "$3" -f "$tmp" "$4"; mv "$tmp" "$1"';
  const args = [p.sasldbLock, 'sh', '-c', script, 'sh', p.sasldb, SASLPASSWD, REALM, user];
  await runWithInput('flock', args, password);
}

/** Log in as the instance's admin over IMAPS and run raw commands, each of which must succeed. */
async function adminCommands(info: ServerInfo, commands: string[]): Promise<void> {
  const sock = connect({ host: info.host, port: info.ports.imaps, ca: readFileSync(info.caFile) });
  sock.setTimeout(10_000, () => sock.destroy(new Error('timeout')));
  const failure = new Promise<never>((_, reject) => sock.once('error', reject));
  const lines = createInterface({ input: sock, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
  const reply = async (tag: string): Promise<string> => {
    for (;;) {
      const { value, done } = await Promise.race([lines.next(), failure]);
      if (done) throw new Error(`cyrus closed the admin connection waiting for ${tag}`);
      if (value.startsWith(`${tag} `)) return value;
    }
  };
  try {
    await reply('*');
    const all = [`LOGIN ${ADMIN} "${info.extra.adminPassword}"`, ...commands, 'LOGOUT'];
    for (const [i, command] of all.entries()) {
      const tag = `a${i}`;
      sock.write(`${tag} ${command}\r\n`);
      const line = await reply(tag);
      if (!line.startsWith(`${tag} OK`)) throw new Error(`cyrus admin ${command.split(' ')[0]}: ${line}`);
    }
  } finally {
    sock.destroy();
  }
}

function prepareDirs(baseDir: string, uid: number, gid: number): void {
  const p = cyrusPaths(baseDir);
  // imapd runs as the mail user and must reach its config, spool and certificate inside.
  chmodSync(baseDir, 0o755);
  for (const dir of [p.configDir, p.socketDir, p.spoolDir, p.tempDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    chownSync(dir, uid, gid);
  }
  writeFileSync(p.ownerFile, `${process.pid}\n`);
}

/** Run the master in the foreground (its own log on stdout/stderr) and wait for all four greetings. */
async function launch(baseDir: string, ports: ServerPorts): Promise<void> {
  const p = cyrusPaths(baseDir);
  const fd = openSync(p.logFile, 'a');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LD_LIBRARY_PATH: CYRUS_LIBS };
  const args = ['-C', p.imapdConf, '-M', p.cyrusConf, '-p', p.pidFile];
  const master = spawn(MASTER, args, { stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  master.unref();
  const exited = new Promise<never>((_, reject) => {
    master.once('error', reject);
    master.once('exit', (code) => reject(new Error(`cyrus master exited ${code}`)));
  });
  try {
    await Promise.race([exited, waitForListeners(ports, p.caFile)]);
  } catch (err) {
    await killCyrus(p.imapdConf);
    const log = existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').trim().slice(-2000) : '';
    throw new Error(`${(err as Error).message}; ${p.logFile}:\n${log}`);
  } finally {
    exited.catch(() => {}); // the master exits at stop(); nobody waits for that here
  }
}

async function start(): Promise<ServerInfo> {
  const { uid, gid } = await ensureMailUser();
  reapOrphans();
  const baseDir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  const p = cyrusPaths(baseDir);
  prepareDirs(baseDir, uid, gid);
  await makeCertificate(p.caFile, p.keyFile);
  chownSync(p.keyFile, uid, gid);
  const adminPassword = randomBytes(12).toString('hex');
  await saslAdd(baseDir, ADMIN, adminPassword);
  chownSync(p.sasldb, uid, gid);
  writeFileSync(p.imapdConf, imapdConf({ baseDir, user: MAIL_USER, admin: ADMIN }));
  const _ca = readFileSync(p.caFile);
  exitHooks.set(baseDir, killOnExit(baseDir));
  // Free ports can be taken by someone else before the master binds them: try a few times.
  for (let attempt = 1; ; attempt++) {
    const [imap, imaps, pop3, pop3s] = await freePorts(4);
    const ports = { imap: imap!, imaps: imaps!, pop3: pop3!, pop3s: pop3s! };
    writeFileSync(p.cyrusConf, cyrusConf(baseDir, ports));
    try {
      await launch(baseDir, ports);
    } catch (err) {
      if (attempt < 3 && /in use/i.test((err as Error).message)) continue;
      await stop({ baseDir } as ServerInfo);
      throw err;
    }
    return {
      kind: 'cyrus',
      host: '127.0.0.1',
      ports,
      caFile: p.caFile,
      baseDir,
      namespace: { prefix: 'INBOX.', delimiter: '.' },
      extra: { imapdConf: p.imapdConf, admin: ADMIN, adminPassword, logFile: p.logFile },
    };
  }
}

async function stop(info: ServerInfo): Promise<void> {
  exitHooks.get(info.baseDir)?.();
  exitHooks.delete(info.baseDir);
  await killCyrus(cyrusPaths(info.baseDir).imapdConf);
  if (process.env.MAILFERRY_RIG_KEEP !== '1') rmSync(info.baseDir, { recursive: true, force: true });
}

async function createAccount(info: ServerInfo, user: string, password: string): Promise<void> {
  // With the netnews separator '.', a dot in a user name would be a hierarchy level.
  if (!/^[a-z0-9_-]+$/.test(user)) throw new Error(`bad cyrus rig user ${JSON.stringify(user)}`);
  await saslAdd(info.baseDir, user, password);
  await adminCommands(info, [`CREATE user.${user}`]);
}

export const cyrusDriver: ServerDriver = {
  kind: 'cyrus',
  available: () => [MASTER, join(CYRUS_BIN, 'imapd'), join(CYRUS_BIN, 'pop3d'), SASLPASSWD].every(existsSync),
  start,
  stop,
  createAccount,
};
