/**
 * The mail servers of the test rig behind one shape, so an integration test can run the same
 * case against Dovecot, Cyrus and Courier (a matrix, not a copy per server).
 *
 * Each server kind has its own module (dovecot.ts, cyrus.ts, courier.ts) exporting a
 * `ServerDriver`; global-setup.ts starts every driver whose binaries are installed and provides
 * the resulting `ServerInfo` list to the tests. ServerInfo must stay plain data (it crosses
 * worker boundaries); anything a test needs to do to a server goes through its driver.
 */

/** 'dovecot-ns': a second Dovecot with Courier's layout (prefix INBOX., delimiter '.'). */
export type ServerKind = 'dovecot' | 'cyrus' | 'courier' | 'dovecot-ns';

export interface ServerPorts {
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
}

export interface ServerInfo {
  kind: ServerKind;
  host: '127.0.0.1';
  ports: ServerPorts;
  /** PEM file of the CA that signed the server's certificate; pass it as --ca-file. */
  caFile: string;
  /** Private temp directory holding config, spool, logs; removed at teardown. */
  baseDir: string;
  /** Personal namespace (RFC 2342) as the server announces it, e.g. '' + '/' (Dovecot) or 'INBOX.' + '.'. */
  namespace: { prefix: string; delimiter: string };
  /** Free-form details a driver needs again later (config path, pids, admin credentials). */
  extra: Record<string, string>;
}

export interface ServerDriver {
  kind: ServerKind;
  /** Whether this machine has the server's binaries (scripts/setup.sh installs them). */
  available(): boolean;
  start(): Promise<ServerInfo>;
  stop(info: ServerInfo): Promise<void>;
  /** A new mailbox user with this password; callable from any test worker. */
  createAccount(info: ServerInfo, user: string, password: string): Promise<void>;
}
