import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';

export const run = promisify(execFile);

/** The system user that owns all rig mail: Dovecot refuses uid 0 and uids below first_valid_uid. */
export const MAIL_USER = 'mailferry-rig';

export function lookupUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

export function lookupGroup(name: string): number | undefined {
  try {
    return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    return undefined;
  }
}

/** Find or create the mail user (we run as root here and in CI). */
export async function ensureMailUser(): Promise<{ uid: number; gid: number }> {
  const found = lookupUser(MAIL_USER);
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the test rig needs the system user ${MAIL_USER}: run as root once, or create it with useradd`,
    );
  }
  const args = ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent'];
  try {
    await run('useradd', [...args, '--shell', '/usr/sbin/nologin', MAIL_USER]);
  } catch (err) {
    // Another process may have created it at the same moment (useradd exit 9).
    if (!lookupUser(MAIL_USER)) throw err;
  }
  const made = lookupUser(MAIL_USER);
  if (!made) throw new Error(`useradd ${MAIL_USER} succeeded but getent does not see the user`);
  return made;
}

/** Distinct free loopback ports: all are held open until every one is known. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const srv = createServer();
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve(srv));
      });
    }),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Resolve with the first bytes a server sends, or reject on error. With a CA file the listener
 * speaks implicit TLS and its certificate is verified (the rig certificates name localhost).
 */
function greeting(port: number, caFile?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = caFile
      ? tlsConnect({ host: '127.0.0.1', port, ca: [readFileSync(caFile)], servername: 'localhost' })
      : connect({ host: '127.0.0.1', port });
    sock.setTimeout(2000, () => sock.destroy(new Error('timeout')));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString('latin1'));
    });
    sock.once('error', reject);
  });
}

/** Wait until a listener sends its greeting (e.g. "* OK" or "+OK"); caFile: over verified TLS. */
export async function waitForGreeting(
  port: number,
  expect: string,
  ms: number,
  caFile?: string,
): Promise<void> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const text = await greeting(port, caFile);
      if (text.startsWith(expect)) return;
      last = new Error(`unexpected greeting ${JSON.stringify(text.slice(0, 80))}`);
    } catch (err) {
      last = err;
    }
    await sleep(25);
  }
  const kind = caFile ? 'TLS ' : '';
  throw new Error(`no ${kind}${expect} greeting on 127.0.0.1:${port}: ${(last as Error)?.message}`);
}

/** Until all four listeners of a rig server greet: IMAP and POP3, plain and implicit TLS. */
export async function waitForListeners(
  ports: { imap: number; imaps: number; pop3: number; pop3s: number },
  caFile: string,
  ms = 10_000,
): Promise<void> {
  await Promise.all([
    waitForGreeting(ports.imap, '* OK', ms),
    waitForGreeting(ports.pop3, '+OK', ms),
    waitForGreeting(ports.imaps, '* OK', ms, caFile),
    waitForGreeting(ports.pop3s, '+OK', ms, caFile),
  ]);
}

/** A self-signed certificate for 127.0.0.1 and localhost; it is its own CA for --ca-file. */
export async function makeCertificate(certFile: string, keyFile: string): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '3650',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
}
