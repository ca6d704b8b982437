import { join } from 'node:path';
import type { ServerPorts } from './servers.js';

/**
 * Files of one private Courier instance (test/rig/courier.ts). Courier's binaries look for
 * /etc/courier, /run/courier and /usr/lib/courier-authlib at compiled-in paths, so the instance
 * runs in its own mount namespace where the private root (scripts/install-courier.sh) is laid
 * over /usr and the instance's own dirs are bound over /etc/courier and /run/courier.
 */
export const COURIER_ROOT = process.env.MAILFERRY_COURIER_ROOT ?? '/opt/mailferry-rig/courier';

export function courierPaths(baseDir: string) {
  return {
    /** Bound over /etc/courier: authdaemonrc, TLS key + certificate, userdb. */
    etcDir: join(baseDir, 'etc'),
    /** One userdb source file per account; makeuserdb compiles the directory into userdb.dat. */
    userdbDir: join(baseDir, 'etc', 'userdb'),
    /** Accounts are written here first, then renamed into userdbDir. */
    stagingDir: join(baseDir, 'staging'),
    /** Bound over /run/courier: authdaemond's socket. */
    runDir: join(baseDir, 'run'),
    /** Empty mount points (courier/) laid over /etc and /run, so the binds have a target. */
    etcTop: join(baseDir, 'ns', 'etc'),
    runTop: join(baseDir, 'ns', 'run'),
    homeDir: join(baseDir, 'home'),
    caFile: join(baseDir, 'ca.pem'),
    keyFile: join(baseDir, 'key.pem'),
    startScript: join(baseDir, 'start.sh'),
    /** Everything the daemons write to stderr: logins, failures, never passwords. */
    logFile: join(baseDir, 'courier.log'),
  };
}

/** Inside the namespace: the key and certificate in one PEM, as couriertls wants it. */
export const TLS_PEM = '/etc/courier/tls.pem';

export const AUTHDAEMONRC = `authmodulelist="authuserdb"
daemons=4
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
`;

/** Debian's defaults for imapd, minus the Trash purge; plaintext LOGIN allowed before STARTTLS. */
const IMAPD_ENV = {
  IMAP_CAPABILITY:
    'IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE',
  IMAP_CAPABILITY_TLS:
    'IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN',
  IMAP_KEYWORDS: '1',
  IMAP_ACL: '1',
  IMAP_IDLE_TIMEOUT: '60',
  IMAP_MAILBOX_SANITY_CHECK: '1',
  // Debian's "Trash:7" would expunge old messages from Trash at logout: tests append old dates.
  IMAP_EMPTYTRASH: '',
  IMAP_TRASHFOLDERNAME: 'Trash',
  IMAP_USELOCKS: '1',
  IMAP_TLS_REQUIRED: '0',
};

const POP3D_ENV = {
  POP3AUTH: '',
  POP3AUTH_TLS: 'LOGIN PLAIN',
  POP3_TLS_REQUIRED: '0',
};

const TLS_ENV = {
  COURIERTLS: '/usr/bin/couriertls',
  TLS_CERTFILE: TLS_PEM,
  TLS_VERIFYPEER: 'NONE',
};

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function envPrefix(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => `${k}=${shellQuote(v)}`)
    .join(' ');
}

/** One listener: couriertcpd on 127.0.0.1, optionally wrapping the login in couriertls. */
function listener(port: number, env: Record<string, string>, login: string[], tls: boolean): string {
  const tcpd = [
    '/usr/sbin/couriertcpd',
    '-address=127.0.0.1',
    '-nodnslookup',
    '-noidentlookup',
    // Parallel test workers all connect from 127.0.0.1.
    '-maxprocs=400',
    '-maxperip=400',
    '-maxperc=400',
    String(port),
    ...(tls ? ['/usr/bin/couriertls', '-server', '-tcpd'] : []),
    ...login,
  ];
  return `env -i PATH=/usr/bin:/bin ${envPrefix(env)} ${tcpd.join(' ')} &`;
}

/**
 * The script pid 1 of the instance's namespaces runs: lay the private root and dirs over the
 * compiled-in paths, start authdaemond and the four listeners, and wait. Killing this process
 * (unshare --kill-child does) ends every process of the instance with it.
 */
export function startScript(baseDir: string, ports: ServerPorts): string {
  const p = courierPaths(baseDir);
  const imap = ['/usr/lib/courier/courier/imaplogin', '/usr/bin/imapd', 'Maildir'];
  const pop3 = [
    '/usr/lib/courier/courier/courierpop3login',
    '/usr/lib/courier/courier/courierpop3d',
    'Maildir',
  ];
  const q = shellQuote;
  return [
    'set -e',
    `mount -t overlay overlay -o ${q(`lowerdir=${COURIER_ROOT}/usr:/usr`)} /usr`,
    `mount -t overlay overlay -o ${q(`lowerdir=${p.etcTop}:/etc`)} /etc`,
    `mount --bind ${q(p.etcDir)} /etc/courier`,
    `mount -t overlay overlay -o ${q(`lowerdir=${p.runTop}:/run`)} /run`,
    `mount --bind ${q(p.runDir)} /run/courier`,
    'env -i PATH=/usr/bin:/bin /usr/lib/courier/courier-authlib/authdaemond &',
    listener(ports.imap, { ...IMAPD_ENV, ...TLS_ENV, IMAP_STARTTLS: 'YES' }, imap, false),
    listener(ports.imaps, { ...IMAPD_ENV, ...TLS_ENV, IMAP_TLS: '1', IMAP_STARTTLS: 'NO' }, imap, true),
    listener(ports.pop3, { ...POP3D_ENV, ...TLS_ENV, POP3_STARTTLS: 'YES' }, pop3, false),
    listener(ports.pop3s, { ...POP3D_ENV, ...TLS_ENV, POP3_TLS: '1', POP3_STARTTLS: 'NO' }, pop3, true),
    // The first listener to fail (a port taken meanwhile) ends the instance: start() retries.
    'wait -n',
    'exit 1',
    '',
  ].join('\n');
}
