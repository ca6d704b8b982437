/** The private Dovecot instance's configuration: nothing is included from /etc/dovecot. */

export interface RigPorts {
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
}

export interface ConfigInput {
  instance: string;
  baseDir: string;
  ports: RigPorts;
  mailUid: number;
  mailGid: number;
  /** Where Dovecot's oauth2 passdb asks about tokens (test/rig/oauth.ts); none = no OAuth2 logins. */
  oauth2Url?: string;
  /** Personal namespace; default no prefix and '/'. */
  namespace?: { prefix: string; separator: string };
  /** Gmail-like: a virtual `[Gmail]/All Mail` (\All) over every folder plus a hidden one (test/rig/virtual-all.ts). */
  virtualAll?: boolean;
}

/**
 * Folders that carry a special-use attribute. The first of each kind is created (and subscribed)
 * for every account; the others are only declared, so a seeded folder of that name gets the attribute.
 */
export const SPECIAL_USE_FOLDERS: Readonly<Record<string, string>> = {
  Sent: '\\Sent',
  Drafts: '\\Drafts',
  Trash: '\\Trash',
  Junk: '\\Junk',
  Archive: '\\Archive',
  'Sent Items': '\\Sent',
  'Sent Messages': '\\Sent',
  'Deleted Items': '\\Trash',
  'Deleted Messages': '\\Trash',
  Spam: '\\Junk',
};
const AUTO_CREATED = new Set(['Sent', 'Drafts', 'Trash', 'Junk', 'Archive']);

/** Largest message APPEND accepts; Dovecot 2.3 enforces it but does not advertise it by itself. */
export const MAX_MAIL_SIZE = '64M';

/** Dovecot size ('100k', '64M', '1G', plain bytes) in bytes; units are powers of 1024. */
export function sizeBytes(size: string): number {
  const m = /^(\d+)\s*([kmgt]?)b?$/i.exec(size.trim());
  if (!m) throw new Error(`bad size ${JSON.stringify(size)}: use e.g. 100k, 2M`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

export function rigPaths(baseDir: string) {
  return {
    configFile: `${baseDir}/dovecot.conf`,
    runDir: `${baseDir}/run`,
    stateDir: `${baseDir}/state`,
    logFile: `${baseDir}/dovecot.log`,
    caFile: `${baseDir}/cert.pem`,
    keyFile: `${baseDir}/key.pem`,
    usersDir: `${baseDir}/users`,
    /** Master users (one passwd-file each): they log in as any user, SASL PLAIN authzid. */
    mastersDir: `${baseDir}/masters`,
    homeDir: `${baseDir}/home`,
    oauth2File: `${baseDir}/dovecot-oauth2.conf.ext`,
  };
}

function mailboxBlocks(): string {
  return Object.entries(SPECIAL_USE_FOLDERS)
    .map(
      ([name, use]) =>
        `  mailbox "${name}" {\n    special_use = ${use}\n    auto = ${AUTO_CREATED.has(name) ? 'subscribe' : 'no'}\n  }`,
    )
    .join('\n');
}

function listener(name: string, port: number, ssl: boolean): string {
  return `  inet_listener ${name} {\n    address = 127.0.0.1\n    port = ${port}\n    ssl = ${ssl ? 'yes' : 'no'}\n  }`;
}

/** Settings file of the oauth2 passdb: token introspection against test/rig/oauth.ts. */
export function oauth2Config(url: string): string {
  // The active check needs the introspection answer even when a field is already known.
  return `introspection_mode = post
introspection_url = ${url}/introspect
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 10000
`;
}

/** Only XOAUTH2 and OAUTHBEARER logins reach it; password logins never do. */
function oauth2Passdb(c: ConfigInput): string {
  if (!c.oauth2Url) return '';
  return `
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${rigPaths(c.baseDir).oauth2File}
}`;
}

/** Where the server listens, TLS and authentication. */
function serverSection(c: ConfigInput): string {
  const p = rigPaths(c.baseDir);
  // One passwd-file per user: parallel test workers add accounts without a lock. Dovecot re-reads
  // a file when its mtime (seconds) or size changed, checking at most once a second.
  const passwdArgs = `${p.usersDir}/%u`;
  return `# mailferry test rig: generated, private instance
instance_name = ${c.instance}
base_dir = ${p.runDir}
state_dir = ${p.stateDir}
log_path = ${p.logFile}
protocols = imap pop3
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <${p.caFile}
ssl_key = <${p.keyFile}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login${c.oauth2Url ? ' oauthbearer xoauth2' : ''}
auth_verbose = yes
auth_verbose_passwords = no
# No auth cache: a rotated OAuth2 token or a changed password counts at the very next login.
auth_cache_size = 0

# Delegated logins: a master user authenticates, the authorisation id names the mailbox
# (\`pass = yes\`: that user must exist in the passdb below too).
passdb {
  driver = passwd-file
  master = yes
  pass = yes
  args = ${p.mastersDir}/%u
  mechanisms = plain login
}
passdb {
  driver = passwd-file
  args = ${passwdArgs}${c.oauth2Url ? '\n  # a password is never accepted as an OAuth2 token\n  mechanisms = plain login' : ''}
}${oauth2Passdb(c)}
userdb {
  driver = passwd-file
  args = ${passwdArgs}
  default_fields = uid=${c.mailUid} gid=${c.mailGid} home=${p.homeDir}/%u
}

service imap-login {
${listener('imap', c.ports.imap, false)}
${listener('imaps', c.ports.imaps, true)}
}
service pop3-login {
${listener('pop3', c.ports.pop3, false)}
${listener('pop3s', c.ports.pop3s, true)}
}
`;
}

/** Storage, folders, quota and per-protocol settings. */
function mailSection(c: ConfigInput): string {
  return `
first_valid_uid = ${c.mailUid}
last_valid_uid = ${c.mailUid}
first_valid_gid = ${c.mailGid}
last_valid_gid = ${c.mailGid}
mail_location = maildir:~/Maildir
mail_plugins = quota${c.virtualAll ? ' virtual' : ''}
pop3_uidl_format = %08Xu%08Xv

namespace inbox {
  inbox = yes
  separator = ${c.namespace?.separator ?? '/'}${c.namespace?.prefix ? `\n  prefix = ${c.namespace.prefix}` : ''}
${mailboxBlocks()}
}
${c.virtualAll ? virtualNamespaces() : ''}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  # No grace: an APPEND over the limit fails at once, so quota tests are exact.
  quota_grace = 0
  quota_max_mail_size = ${MAX_MAIL_SIZE}
}

protocol imap {
  mail_plugins = $mail_plugins imap_quota
  imap_capability = +APPENDLIMIT=${sizeBytes(MAX_MAIL_SIZE)}
  mail_max_userip_connections = 50
}
protocol pop3 {
  mail_max_userip_connections = 50
}
`;
}

/**
 * Archived mail lives in a namespace nobody lists (`.archived/`), as Gmail's does in no label;
 * the virtual namespace shows All Mail over it and every listed folder but Trash and Junk.
 */
function virtualNamespaces(): string {
  return `namespace archived {
  prefix = .archived/
  separator = /
  hidden = yes
  list = no
  location = maildir:~/ArchivedMaildir
}
namespace gmail {
  prefix = [Gmail]/
  separator = /
  location = virtual:~/virtual
  mailbox "All Mail" {
    special_use = \\All
  }
}
`;
}

export function dovecotConfig(c: ConfigInput): string {
  return serverSection(c) + mailSection(c);
}
