import { readFileSync } from 'node:fs';
import type { TransferOptions } from '../config.js';
import type { EndpointContext } from '../context.js';
import { type CredentialOptions, resolveAuth, SecretRegistry, type Side } from '../credentials.js';
import { describeEndpoint, type Endpoint, isServer, parseEndpoint } from '../endpoint.js';
import { MailferryError, UsageError } from '../errors.js';
import type { Counters, ProgressMode } from '../run/progress.js';
import { sinks, sources } from '../stores/registry.js';
import type { Sink, Source } from '../types.js';
import { type Logger, silentLogger } from '../util/log.js';
import type { TlsSettings } from '../util/net.js';
import { assertPathKind } from '../util/path-kinds.js';

export interface SideCredentials {
  passwordFile?: string;
  /** Delegated login: the admin to authenticate as, on behalf of the URL's user. */
  authUser?: string;
  oauth2Command?: string;
}

/** How to reach servers: one set for both sides, credentials per side. */
export interface ConnectSettings {
  caFile?: string[];
  insecure?: boolean;
  allowPlaintext?: boolean;
  timeoutMs?: number;
  sourceCredentials?: SideCredentials;
  sinkCredentials?: SideCredentials;
  env?: NodeJS.ProcessEnv;
  prompt?: CredentialOptions['prompt'];
  log?: Logger;
  secrets?: SecretRegistry;
}

export interface RunSettings extends ConnectSettings {
  progress?: ProgressMode;
  signal?: AbortSignal;
  /** Counters to bump instead of fresh ones: a batch shows every pair's progress. */
  counters?: Counters;
}

export type TransferRequest = Partial<TransferOptions> & RunSettings;

export interface OpenedSide {
  endpoint: Endpoint;
  name: string;
  ctx: EndpointContext;
  /** Logs in with an OAuth2 token command. */
  oauth2: boolean;
  /** A session of this side has logged in during this run. */
  loggedIn: boolean;
}

function readCaFiles(files: string[] | undefined): string[] | undefined {
  if (!files?.length) return undefined;
  return files.map((f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --ca-file ${f}: ${(err as NodeJS.ErrnoException).code}`, {
        hint: 'give the path of a PEM file',
      });
    }
  });
}

/** Parses an endpoint and builds the context its adapter opens sessions with. */
export function prepareSide(
  side: Side,
  text: string,
  s: ConnectSettings,
  largeMessageBytes: number,
): OpenedSide {
  const endpoint = parseEndpoint(text);
  if (endpoint.kind === 'mbox')
    assertPathKind(endpoint.path, `mbox ${side}`, side === 'sink' ? 'dir' : 'file-or-dir');
  if (endpoint.kind === 'zip') assertPathKind(endpoint.path, `zip ${side}`, 'file');
  if (endpoint.kind === 'maildir') assertPathKind(endpoint.path, `Maildir ${side}`, 'dir');
  const log = s.log ?? silentLogger;
  const ctx: EndpointContext = { endpoint, log, largeMessageBytes };
  const creds = (side === 'source' ? s.sourceCredentials : s.sinkCredentials) ?? {};
  if (isServer(endpoint)) {
    const tls: TlsSettings = { insecure: !!s.insecure };
    const ca = readCaFiles(s.caFile);
    if (ca) tls.ca = ca;
    const credOpts: CredentialOptions = { ...creds, env: s.env ?? process.env, warn: (l) => log.warn(l) };
    if (s.prompt) credOpts.prompt = s.prompt;
    ctx.server = {
      endpoint,
      auth: resolveAuth(side, endpoint, credOpts, s.secrets ?? new SecretRegistry()),
      tls,
      allowPlaintext: !!s.allowPlaintext,
      timeoutMs: s.timeoutMs ?? 60_000,
    };
  }
  return { endpoint, name: describeEndpoint(endpoint), ctx, oauth2: !!creds.oauth2Command, loggedIn: false };
}

/**
 * An OAuth2 access token can expire mid-run. After an earlier successful login, a refused
 * one runs the token command once more for a fresh token before giving up; a first login
 * that fails stays fatal.
 */
async function withReauth<T>(side: OpenedSide, open: () => Promise<T>): Promise<T> {
  try {
    const t = await open();
    side.loggedIn = true;
    return t;
  } catch (err) {
    const refused = err instanceof MailferryError && err.code === 'EAUTH';
    if (!(refused && side.oauth2 && side.loggedIn)) throw err;
    side.ctx.log.info(
      `${side.name}: token refused after an earlier login; asking the token command for a new one`,
    );
    return open();
  }
}

export async function openSource(side: OpenedSide): Promise<Source> {
  const factory = await sources[side.endpoint.kind]();
  return withReauth(side, () => factory(side.ctx));
}

export async function openSink(side: OpenedSide): Promise<Sink> {
  const load = sinks[side.endpoint.kind];
  if (!load) {
    throw new UsageError(`${side.endpoint.kind} cannot be a sink`, {
      hint: 'copy into imaps://, imap://, mbox:, zip: or maildir:',
    });
  }
  const factory = await load();
  return withReauth(side, () => factory(side.ctx));
}
