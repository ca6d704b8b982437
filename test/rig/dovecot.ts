import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigInput, dovecotConfig, oauth2Config, type RigPorts, rigPaths } from './config.js';
import { type OAuthServer, startOAuthServer } from './oauth.js';
import { killInstance } from './procs.js';
import type { ServerInfo } from './servers.js';
import { ensureMailUser, freePorts, lookupGroup, makeCertificate, run, waitForGreeting } from './system.js';

export interface RigInfo {
  host: '127.0.0.1';
  ports: RigPorts;
  /** Self-signed certificate of the rig; pass it as --ca-file. */
  caFile: string;
  baseDir: string;
  configFile: string;
  /** Dovecot's log (auth results, errors); never holds passwords. */
  logFile: string;
  /** Dovecot instance_name; child process titles start with "dovecot-<instance>/". */
  instance: string;
  /** Master pid at the last start; restartRig changes it. */
  pid: number;
  mailUid: number;
  mailGid: number;
  /** Token introspection for OAuth2 logins (test/rig/oauth.ts), served by the process that started the rig. */
  oauth2Url?: string;
}

/** Introspection servers of the rigs this process started, by base dir (RigInfo must stay plain data). */
const oauthServers = new Map<string, OAuthServer>();

const DOVECOT = '/usr/sbin/dovecot';
const DOVEADM = '/usr/bin/doveadm';

function prepareDirs(baseDir: string): void {
  const p = rigPaths(baseDir);
  mkdirSync(baseDir, { recursive: true });
  // Dovecot's login, auth and mail processes run as other users and must reach into the dir.
  chmodSync(baseDir, 0o755);
  mkdirSync(p.usersDir, { recursive: true, mode: 0o750 });
  // The auth process runs as the "dovecot" user and reads the passwd-files.
  chownSync(p.usersDir, 0, lookupGroup('dovecot') ?? 0);
  mkdirSync(p.mastersDir, { recursive: true, mode: 0o750 });
  chownSync(p.mastersDir, 0, lookupGroup('dovecot') ?? 0);
  mkdirSync(p.homeDir, { recursive: true, mode: 0o755 });
  mkdirSync(p.stateDir, { recursive: true });
}

/** Run the master; it daemonizes. Its stderr goes to a file: a pipe would be held open by the daemon. */
async function runMaster(rig: RigInfo): Promise<void> {
  const errFile = join(rig.baseDir, 'startup.err');
  const fd = openSync(errFile, 'w');
  try {
    const child = spawn(DOVECOT, ['-c', rig.configFile], { stdio: ['ignore', fd, fd] });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) {
      const why = readFileSync(errFile, 'utf8').trim();
      throw new Error(`dovecot did not start (exit ${code}): ${why} (log: ${rig.logFile})`);
    }
  } finally {
    closeSync(fd);
  }
}

async function launch(rig: RigInfo): Promise<void> {
  await runMaster(rig);
  try {
    await waitForGreeting(rig.ports.imap, '* OK', 10_000);
    await waitForGreeting(rig.ports.pop3, '+OK', 10_000);
  } catch (err) {
    await killInstance(rig.instance, rig.configFile);
    throw new Error(`${(err as Error).message}; see ${rig.logFile}:\n${tail(rig.logFile)}`);
  }
  rig.pid = masterPid(rig) ?? 0;
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The running master's pid from Dovecot's pid file (restarts change it). */
export function masterPid(rig: RigInfo): number | undefined {
  try {
    return Number(readFileSync(join(rigPaths(rig.baseDir).runDir, 'master.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** Start a private Dovecot in a temp dir (or baseDir) on free loopback ports. */
export async function startRig(
  opts: { baseDir?: string; namespace?: ConfigInput['namespace']; virtualAll?: boolean } = {},
): Promise<RigInfo> {
  const { uid, gid } = await ensureMailUser();
  const baseDir = opts.baseDir ?? mkdtempSync(join(tmpdir(), 'mailferry-rig-'));
  prepareDirs(baseDir);
  const p = rigPaths(baseDir);
  await makeCertificate(p.caFile, p.keyFile);
  const instance = `mfrig-${randomBytes(4).toString('hex')}`;
  const oauth = await startOAuthServer(baseDir);
  oauthServers.set(baseDir, oauth);
  writeFileSync(p.oauth2File, oauth2Config(oauth.url), { mode: 0o644 });
  // Free ports can be taken by someone else before Dovecot binds them: try a few times.
  for (let attempt = 1; ; attempt++) {
    const [imap, imaps, pop3, pop3s] = await freePorts(4);
    const rig: RigInfo = {
      host: '127.0.0.1',
      ports: { imap: imap!, imaps: imaps!, pop3: pop3!, pop3s: pop3s! },
      caFile: p.caFile,
      baseDir,
      configFile: p.configFile,
      logFile: p.logFile,
      instance,
      pid: 0,
      mailUid: uid,
      mailGid: gid,
      oauth2Url: oauth.url,
    };
    writeFileSync(
      p.configFile,
      dovecotConfig({
        instance,
        baseDir,
        ports: rig.ports,
        mailUid: uid,
        mailGid: gid,
        oauth2Url: oauth.url,
        ...(opts.namespace ? { namespace: opts.namespace } : {}),
        ...(opts.virtualAll ? { virtualAll: true } : {}),
      }),
    );
    try {
      await launch(rig);
      return rig;
    } catch (err) {
      if (attempt >= 3 || !/in use/i.test((err as Error).message)) {
        await closeOAuth(baseDir);
        throw err;
      }
    }
  }
}

async function closeOAuth(baseDir: string): Promise<void> {
  await oauthServers.get(baseDir)?.close();
  oauthServers.delete(baseDir);
}

/** Stop the instance and wait until all its processes are gone; remove baseDir unless kept. */
export async function stopRig(rig: RigInfo, opts: { keep?: boolean } = {}): Promise<void> {
  await killInstance(rig.instance, rig.configFile, masterPid(rig) ?? rig.pid);
  await closeOAuth(rig.baseDir);
  const keep = opts.keep ?? process.env.MAILFERRY_RIG_KEEP === '1';
  if (!keep) rmSync(rig.baseDir, { recursive: true, force: true });
}

/** Stop and start again with the same config, ports and mail; rig.pid is updated. */
export async function restartRig(rig: RigInfo): Promise<void> {
  await killInstance(rig.instance, rig.configFile, masterPid(rig) ?? rig.pid);
  await launch(rig);
}

/** Run `doveadm -c <config> ...args`; resolves with stdout, throws with stderr on failure. */
export async function doveadm(rig: RigInfo, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(DOVEADM, ['-c', rig.configFile, ...args], { maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: number; message: string };
    const why = (e.stderr || e.message).trim();
    throw Object.assign(new Error(`doveadm ${args.join(' ')} failed (exit ${e.code}): ${why}`), {
      exitCode: e.code,
      stderr: e.stderr,
    });
  }
}

/** The main Dovecot in the shape every rig server shares (test/rig/servers.ts). */
export function dovecotInfo(rig: RigInfo): ServerInfo {
  return {
    kind: 'dovecot',
    host: rig.host,
    ports: rig.ports,
    caFile: rig.caFile,
    baseDir: rig.baseDir,
    namespace: { prefix: '', delimiter: '/' },
    extra: {},
  };
}
