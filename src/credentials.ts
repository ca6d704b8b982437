import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ServerEndpoint } from './endpoint.js';
import { ConnectionError, UsageError } from './errors.js';
import type { AuthProvider } from './util/net.js';
import { childEnv, refuseLineBreaks, type SecretRegistry } from './util/secrets.js';

export { SecretRegistry } from './util/secrets.js';

const run = promisify(execFile);

export type Side = 'source' | 'sink';

export interface CredentialOptions {
  passwordFile?: string;
  /**
   * Delegated login (--source-auth-user / --sink-auth-user): log in as this admin, with the
   * admin's password, on behalf of the URL's user (SASL PLAIN authorisation identity).
   */
  authUser?: string;
  /** Shell command printing a fresh OAuth2 access token; run at every new connection. */
  oauth2Command?: string;
  env?: NodeJS.ProcessEnv;
  /** Asks on the terminal without echo; undefined when stdin is not a terminal. */
  prompt?: (question: string) => Promise<string>;
  warn?: (line: string) => void;
}

export function envName(side: Side): string {
  return side === 'source' ? 'MAILFERRY_SOURCE_PASSWORD' : 'MAILFERRY_SINK_PASSWORD';
}

/** Picks the credential source in a fixed order: OAuth2 command, password file, environment, URL, prompt. */
export function resolveAuth(
  side: Side,
  endpoint: ServerEndpoint,
  opts: CredentialOptions,
  secrets: SecretRegistry,
): AuthProvider {
  const user = refuseLineBreaks(`the ${side} user name`, endpoint.user);
  const admin = opts.authUser === undefined ? undefined : checkAuthUser(side, opts);
  if (opts.oauth2Command) {
    const cmd = opts.oauth2Command;
    const env = childEnv(opts.env ?? process.env);
    return async () => ({
      method: 'xoauth2',
      user,
      secret: secrets.add(await runTokenCommand(side, cmd, env), user),
    });
  }
  let password: string | undefined;
  let from = '';
  if (opts.passwordFile) {
    password = readPasswordFile(side, opts.passwordFile);
    from = ` in ${opts.passwordFile}`;
  } else if (opts.env?.[envName(side)]) {
    password = opts.env[envName(side)];
    from = ` in ${envName(side)}`;
  } else if (endpoint.urlPassword !== undefined) {
    from = ' in the URL';
    opts.warn?.(
      `the ${side} password is inside the URL, where other users can see it in the process list (use ${envName(side)} or --${side}-password-file)`,
    );
    password = endpoint.urlPassword;
  }
  const asAdmin = admin === undefined ? {} : { admin };
  if (password !== undefined) {
    const fixed = secrets.add(refuseLineBreaks(`the ${side} password${from}`, password), user, admin);
    return async () => ({ method: 'password', user, secret: fixed, ...asAdmin });
  }
  const prompt = opts.prompt;
  if (!prompt) {
    throw new UsageError(`no password for the ${side} ${user}@${endpoint.host}`, {
      hint: `set ${envName(side)}, or pass --${side}-password-file FILE or --${side}-oauth2-command CMD`,
    });
  }
  let asked: Promise<string> | undefined;
  const whose =
    admin === undefined ? `${user}@${endpoint.host}` : `${admin}@${endpoint.host} (acting as ${user})`;
  return async () => {
    asked ??= prompt(`Password for ${whose} (${side}): `).then((p) =>
      secrets.add(refuseLineBreaks(`the ${side} password typed at the prompt`, p), user, admin),
    );
    return { method: 'password', user, secret: await asked, ...asAdmin };
  };
}

/** The admin name reaches the wire inside AUTH PLAIN; a token already names its service account. */
function checkAuthUser(side: Side, opts: CredentialOptions): string {
  const admin = refuseLineBreaks(`--${side}-auth-user`, opts.authUser ?? '');
  if (!admin)
    throw new UsageError(`--${side}-auth-user is empty`, { hint: 'name the admin user to log in as' });
  if (opts.oauth2Command) {
    throw new UsageError(`--${side}-auth-user and --${side}-oauth2-command do not go together`, {
      hint: "an OAuth2 service account's token already acts as the URL's user; drop --" + side + '-auth-user',
    });
  }
  return admin;
}

function readPasswordFile(side: Side, file: string): string {
  try {
    // Only the first line: editors add a trailing newline.
    return readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UsageError(`cannot read the ${side} password file ${file}: ${code}`, {
      hint: 'check the path and its permissions',
    });
  }
}

async function runTokenCommand(side: Side, cmd: string, env: NodeJS.ProcessEnv): Promise<string> {
  let stdout: string;
  try {
    // The token travels on stdout only: nothing secret goes into the arguments or the
    // environment we spawn (our passwords are taken out of env).
    ({ stdout } = await run('/bin/sh', ['-c', cmd], { env, timeout: 60_000, maxBuffer: 1 << 20 }));
    if (!stdout.trim()) throw new Error('it printed nothing');
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConnectionError('EAUTH', `the ${side} OAuth2 command failed: ${why}`, {
      hint: `check --${side}-oauth2-command; it must print a fresh access token`,
      retryable: false,
    });
  }
  // `echo` ends the token with a line end: exactly one is dropped, any other break refused.
  const token = refuseLineBreaks(
    `the token the ${side} OAuth2 command printed`,
    stdout.replace(/\r?\n$/, ''),
    `--${side}-oauth2-command must print the token on one line`,
  );
  return token.trim();
}

/** Source and sink log in at the same time: their questions take turns at the terminal. */
let promptTurn: Promise<unknown> = Promise.resolve();

/** Reads a line from the terminal without echoing it. */
export function terminalPrompt(): ((question: string) => Promise<string>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return (question) => {
    const asked = promptTurn.then(() => askHidden(question));
    promptTurn = asked.catch(() => undefined);
    return asked;
  };
}

function askHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') {
          cleanup();
          return reject(new UsageError('password prompt cancelled'));
        }
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const cleanup = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const finish = () => {
      cleanup();
      resolve(value);
    };
    stdin.on('data', onData);
  });
}
