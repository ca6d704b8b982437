import { join } from 'node:path';
import type { ServerPorts } from './servers.js';

/** Where scripts/install-cyrus.sh unpacked Debian's Cyrus packages (never installed with dpkg). */
export const CYRUS_ROOT = process.env.MAILFERRY_CYRUS_ROOT ?? '/opt/mailferry-rig/cyrus';
export const CYRUS_BIN = join(CYRUS_ROOT, 'usr/lib/cyrus/bin');
/** libcyrus*.so live in the private root, not on the loader's default path. */
export const CYRUS_LIBS = join(CYRUS_ROOT, 'usr/lib/x86_64-linux-gnu');
export const SASLPASSWD = join(CYRUS_ROOT, 'usr/sbin/saslpasswd2');

/** Files and directories of one instance under its temp dir. */
export function cyrusPaths(baseDir: string) {
  return {
    imapdConf: join(baseDir, 'imapd.conf'),
    cyrusConf: join(baseDir, 'cyrus.conf'),
    configDir: join(baseDir, 'config'),
    socketDir: join(baseDir, 'config', 'socket'),
    spoolDir: join(baseDir, 'spool'),
    tempDir: join(baseDir, 'tmp'),
    sasldb: join(baseDir, 'sasldb2'),
    /** Serializes sasldb updates: concurrent saslpasswd2 runs would corrupt the Berkeley DB. */
    sasldbLock: join(baseDir, 'sasldb2.lock'),
    caFile: join(baseDir, 'cert.pem'),
    keyFile: join(baseDir, 'key.pem'),
    pidFile: join(baseDir, 'master.pid'),
    /** The pid of the node process that started the instance; an orphan's owner is gone. */
    ownerFile: join(baseDir, 'owner.pid'),
    logFile: join(baseDir, 'master.log'),
  };
}

export interface CyrusConfigInput {
  baseDir: string;
  user: string;
  admin: string;
}

/**
 * imapd.conf: the default namespace (INBOX.Sub, delimiter '.'), sasldb passwords private to the
 * instance, plaintext logins allowed on loopback, and none of the waits that would slow tests.
 */
export function imapdConf(c: CyrusConfigInput): string {
  const p = cyrusPaths(c.baseDir);
  return `${[
    `configdirectory: ${p.configDir}`,
    'defaultpartition: default',
    `partition-default: ${p.spoolDir}`,
    `temp_path: ${p.tempDir}`,
    `lmtpsocket: ${join(p.socketDir, 'lmtp')}`,
    `idlesocket: ${join(p.socketDir, 'idle')}`,
    `notifysocket: ${join(p.socketDir, 'notify')}`,
    `cyrus_user: ${c.user}`,
    `admins: ${c.admin}`,
    'servername: cyrus-rig',
    'syslog_prefix: mailferry-cyrus',
    'altnamespace: no',
    'unixhierarchysep: no',
    'allowplaintext: yes',
    'sasl_pwcheck_method: auxprop',
    'sasl_auxprop_plugin: sasldb',
    `sasl_sasldb_path: ${p.sasldb}`,
    'sasl_mech_list: PLAIN LOGIN',
    `tls_server_cert: ${p.caFile}`,
    `tls_server_key: ${p.keyFile}`,
    // Tests append identical messages on purpose.
    'duplicatesuppression: 0',
    // Cyrus's default (1) turns 8-bit header bytes of APPENDed mail into 'X'; the rig keeps bytes.
    'munge8bit: 0',
    'popminpoll: 0',
    'failedloginpause: 0',
    'imapidlepoll: 1s',
    // Also advertised as APPENDLIMIT; 128 MiB is above the biggest test mail.
    'maxmessagesize: 134217728',
    'autocreate_quota: -1',
    'master_bind_errors_fatal: 1',
  ].join('\n')}\n`;
}

/** cyrus.conf: the four listeners on loopback; -C on every command line marks the instance's processes. */
export function cyrusConf(baseDir: string, ports: ServerPorts): string {
  const conf = cyrusPaths(baseDir).imapdConf;
  const svc = (name: string, cmd: string, port: number) =>
    `  ${name} cmd="${join(CYRUS_BIN, cmd)} -C ${conf}" listen="127.0.0.1:${port}" prefork=0 maxchild=50`;
  return [
    'START {',
    `  recover cmd="${join(CYRUS_BIN, 'ctl_cyrusdb')} -C ${conf} -r"`,
    '}',
    'SERVICES {',
    svc('imap', 'imapd', ports.imap),
    svc('imaps', 'imapd -s', ports.imaps),
    svc('pop3', 'pop3d', ports.pop3),
    svc('pop3s', 'pop3d -s', ports.pop3s),
    '}',
    'EVENTS {',
    '}',
    '',
  ].join('\n');
}
