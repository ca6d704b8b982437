import { chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSpec } from './measure.js';

/** An account on the rig, reached over implicit TLS (imaps/pop3s ports) on loopback. */
export interface Account {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Config files hold the password: owner-only, and never a password on a command line. */
function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
}

function makeMaildir(dir: string): void {
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
}

/** Messages delivered under a Maildir tree (every file in a cur/ or new/ directory). */
export function countMaildir(root: string): { messages: number; bytes: number } {
  let messages = 0;
  let bytes = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (dir.endsWith('/cur') || dir.endsWith('/new'))) {
        messages++;
        bytes += statSync(p).size;
      }
    }
  };
  walk(root);
  return { messages, bytes };
}

/**
 * isync 1.4 checks a certificate against DNS names only, not IP addresses: for 127.0.0.1 it
 * connects as localhost (also a name on the rig's certificate; it resolves to loopback).
 */
function mbsyncHost(host: string): string {
  return host === '127.0.0.1' ? 'localhost' : host;
}

/** mbsync (isync 1.4) pulling every folder of an IMAP account into a Maildir tree under dir/mail. */
export function mbsyncSpec(src: Account, dir: string, caFile: string): RunSpec {
  const rc = join(dir, 'mbsyncrc');
  const mail = join(dir, 'mail');
  mkdirSync(mail, { recursive: true });
  writeSecret(
    rc,
    `IMAPAccount bench
Host ${mbsyncHost(src.host)}
Port ${src.port}
User ${src.user}
Pass "${src.password}"
SSLType IMAPS
CertificateFile ${caFile}
AuthMechs LOGIN

IMAPStore far
Account bench

MaildirStore near
Path ${mail}/
Inbox ${mail}/INBOX
SubFolders Verbatim

Channel bench
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState *
CopyArrivalDate yes
`,
  );
  return { cmd: 'mbsync', args: ['-c', rc, '-q', '-a'] };
}

/**
 * mbsync copying every folder of one IMAP account into another (a Far and a Near IMAPStore): the
 * IMAP→IMAP peer standing in for imapsync, which Debian bookworm does not package.
 */
export function mbsyncImapSpec(src: Account, dst: Account, dir: string, caFile: string): RunSpec {
  const rc = join(dir, 'mbsyncrc');
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true });
  const account = (name: string, a: Account) => `IMAPAccount ${name}
Host ${mbsyncHost(a.host)}
Port ${a.port}
User ${a.user}
Pass "${a.password}"
SSLType IMAPS
CertificateFile ${caFile}
AuthMechs LOGIN
`;
  writeSecret(
    rc,
    `${account('src', src)}
${account('dst', dst)}
IMAPStore far
Account src

IMAPStore near
Account dst

Channel bench
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState ${state}/
CopyArrivalDate yes
`,
  );
  return { cmd: 'mbsync', args: ['-c', rc, '-q', '-a'] };
}

/** mpop fetching a POP3 account into a Maildir, keeping mail on the server. */
export function mpopSpec(src: Account, dir: string, caFile: string): RunSpec {
  const rc = join(dir, 'mpoprc');
  const mail = join(dir, 'Maildir');
  makeMaildir(mail);
  writeSecret(
    rc,
    `defaults
account bench
host ${src.host}
port ${src.port}
tls on
tls_starttls off
tls_trust_file ${caFile}
auth user
user ${src.user}
password ${src.password}
keep on
received_header off
delivery maildir ${mail}
uidls_file ${join(dir, 'uidls')}
account default : bench
`,
  );
  return { cmd: 'mpop', args: ['-C', rc, '-q', 'bench'] };
}

const TASKSET = '/usr/bin/taskset';

/** A system user to deliver as: getmail refuses to deliver as root. */
export interface DeliveryUser {
  name: string;
  uid: number;
  gid: number;
}

/** getmail6 fetching a POP3 account into a Maildir; read_all/delete off, state in its own getmaildir. */
export function getmailSpec(src: Account, dir: string, caFile: string, as?: DeliveryUser): RunSpec {
  const getmaildir = join(dir, 'getmail');
  const mail = join(dir, 'Maildir');
  mkdirSync(getmaildir, { recursive: true, mode: 0o700 });
  makeMaildir(mail);
  const root = process.getuid?.() === 0;
  if (root && as) for (const d of ['', 'cur', 'new', 'tmp']) chownSync(join(mail, d), as.uid, as.gid);
  writeSecret(
    join(getmaildir, 'getmailrc'),
    `[retriever]
type = SimplePOP3SSLRetriever
server = ${src.host}
port = ${src.port}
ca_certs = ${caFile}
username = ${src.user}
password = ${src.password}

[destination]
type = Maildir
path = ${mail}/
${root && as ? `user = ${as.name}\n` : ''}
[options]
verbose = 0
read_all = false
delete = false
delivered_to = false
received = false
message_log_syslog = false
`,
  );
  const args = ['--getmaildir', getmaildir, '--rcfile', 'getmailrc', '--quiet'];
  // getmail installs its SIGCHLD handler only after fork(): a delivery child that exits first leaves
  // it waiting out its 180 s timeout, then it gives up. On one CPU the parent runs on until it waits.
  // getmail delivers one message at a time, so the pinning costs it nothing.
  return existsSync(TASKSET)
    ? { cmd: TASKSET, args: ['-c', '0', 'getmail', ...args] }
    : { cmd: 'getmail', args };
}
