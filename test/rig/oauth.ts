/**
 * A token-introspection endpoint (RFC 7662 style) on 127.0.0.1 for Dovecot's oauth2 passdb.
 * Which token is valid for which user lives in files under <rig>/oauth2, so any test worker
 * (thread or process) can rotate a token while the server runs in the process that started the rig.
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RigInfo } from './dovecot.js';

export interface OAuthServer {
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/** One introspection call, as the server saw it; never holds a token, only its fingerprint. */
export interface IntrospectionRecord {
  /** ms since the epoch */
  at: number;
  fingerprint: string;
  /** The user the token belongs to; absent when the token was not valid. */
  user?: string;
}

/** Where a rig with this base dir keeps its token files. */
export function oauthDir(baseDir: string): string {
  return join(baseDir, 'oauth2');
}

/** Short, stable and not reversible: safe to log and to compare in tests. */
export function tokenFingerprint(token: string): string {
  return sha256(token).slice(0, 16);
}

function paths(baseDir: string) {
  const dir = oauthDir(baseDir);
  return {
    dir,
    tokens: join(dir, 'tokens'),
    users: join(dir, 'users'),
    log: join(dir, 'introspection.jsonl'),
  };
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Make exactly `tokens` valid for `user` (none: []), effective at the next introspection. Two at
 * once model a refresh, where the old token lives on until it expires. Dovecot keeps no cache of
 * the answer (auth_cache_size = 0), so the next login sees the change.
 */
export function setOAuthTokens(rig: Pick<RigInfo, 'baseDir'>, user: string, tokens: string[]): void {
  const p = paths(rig.baseDir);
  const name = user.toLowerCase();
  if (!/^[a-z0-9._@-]+$/.test(name) || name.startsWith('.')) throw new Error(`bad rig user ${user}`);
  mkdirSync(p.tokens, { recursive: true, mode: 0o700 });
  mkdirSync(p.users, { recursive: true, mode: 0o700 });
  const userFile = join(p.users, name);
  const old = existsSync(userFile) ? readFileSync(userFile, 'utf8').split('\n').filter(Boolean) : [];
  const fresh = tokens.map(sha256);
  // New ones first: a token that stays valid must never be missing for a moment.
  for (const fp of fresh) writeAtomic(join(p.tokens, fp), name);
  for (const fp of old) if (!fresh.includes(fp)) rmSync(join(p.tokens, fp), { force: true });
  writeAtomic(userFile, fresh.map((fp) => `${fp}\n`).join(''));
}

/** Every introspection call so far, oldest first. */
export function introspections(rig: Pick<RigInfo, 'baseDir'>): IntrospectionRecord[] {
  const log = paths(rig.baseDir).log;
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as IntrospectionRecord);
}

function ownerOf(baseDir: string, token: string): string | undefined {
  try {
    return readFileSync(join(paths(baseDir).tokens, sha256(token)), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The token from `token=` in a form body (post), the query (get) or a Bearer header (auth). */
function presentedToken(req: IncomingMessage, body: string): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (bearer) return bearer.trim();
  const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  return new URLSearchParams(body).get('token') ?? query ?? undefined;
}

function answer(baseDir: string, req: IncomingMessage, body: string, res: ServerResponse): void {
  const token = presentedToken(req, body);
  const user = token ? ownerOf(baseDir, token) : undefined;
  const record: IntrospectionRecord = { at: Date.now(), fingerprint: token ? tokenFingerprint(token) : '' };
  if (user) record.user = user;
  appendFileSync(paths(baseDir).log, `${JSON.stringify(record)}\n`);
  // RFC 7662: an unknown, expired or revoked token is simply inactive; Dovecot then refuses
  // the login with AUTHENTICATIONFAILED, as it would a wrong password.
  const reply = user ? { active: true, username: user, scope: 'mail' } : { active: false };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(reply));
}

/** Start the endpoint; Dovecot's oauth2 passdb POSTs `token=...` to `${url}/introspect`. */
export async function startOAuthServer(baseDir: string): Promise<OAuthServer> {
  const p = paths(baseDir);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        answer(baseDir, req, Buffer.concat(chunks).toString('utf8'), res);
      } catch (err) {
        res.writeHead(500).end(String((err as Error).message));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  // A rig started from `npm run rig` must not keep that command from exiting.
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * What a user passes as --source-oauth2-command: a script printing the token in its file (so a
 * test can change it mid-run) that counts its runs. exitCode != 0 makes a broken command.
 */
export class TokenCommand {
  readonly dir = mkdtempSync(join(tmpdir(), 'mf-token-'));
  constructor(token: string, exitCode = 0) {
    this.token = token;
    const script = `#!/bin/sh\necho run >> "${this.dir}/runs"\ncat "${this.dir}/token"\nexit ${exitCode}\n`;
    writeFileSync(join(this.dir, 'token.sh'), script, { mode: 0o700 });
  }
  get command(): string {
    return `sh ${join(this.dir, 'token.sh')}`;
  }
  /** Atomic, so a run never reads half a token. */
  set token(value: string) {
    writeAtomic(join(this.dir, 'token'), `${value}\n`);
  }
  runs(): number {
    try {
      return readFileSync(join(this.dir, 'runs'), 'utf8').split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  }
}
