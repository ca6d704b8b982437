import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointContext } from '../../src/context.js';
import { parseEndpoint, type ServerEndpoint } from '../../src/endpoint.js';
import { sinks, sources } from '../../src/stores/registry.js';
import type { FolderNamespace, Sink, Source } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';
import { accountUrl, type ServerInfo, serverAccount } from '../helpers/servers.js';

/** One endpoint of a store under test: how the library and the adapters reach it. */
export interface TestEndpoint {
  url: string;
  ctx: EndpointContext;
  /** Environment for copy() (the sink password of a server). */
  env: Record<string, string>;
  caFile?: string[];
}

/** What a store legitimately does with one hostile message instead of keeping it byte-exact. */
export type Quirk = { refused: RegExp } | 'altered';

export interface StoreUnderTest {
  name: string;
  /** A new, empty endpoint: a fresh account or a new path. */
  fresh(): Promise<TestEndpoint>;
  /** Keywords ($Label1, Work) come back, not only system flags. */
  keepsKeywords: boolean;
  /** Per hostile message (by corpus name): what the store does instead of a byte-exact copy. */
  quirk(message: string): Quirk | undefined;
  /**
   * A known difference, kept visible: the inventory gives the raw size, not the CRLF size identity
   * uses (zip source: a bare-LF message lists 176 bytes, its CRLF form is 184).
   */
  rawSizes?: boolean;
  /** Hostile folder names the store refuses (asserted exactly: every other one must work). */
  refusesFolder(name: string): boolean;
}

const scratch = () => mkdtemp(join(tmpdir(), 'mf-contract-'));

function fileStore(kind: 'mbox' | 'zip' | 'maildir'): StoreUnderTest {
  return {
    name: kind,
    rawSizes: kind === 'zip',
    keepsKeywords: true,
    quirk: () => undefined,
    refusesFolder: () => false,
    async fresh() {
      const url = `${kind}:${join(await scratch(), kind === 'zip' ? 'store.zip' : 'store')}`;
      return {
        url,
        ctx: { endpoint: parseEndpoint(url), log: silentLogger, largeMessageBytes: 1 << 20 },
        env: {},
      };
    },
  };
}

export const FILE_STORES: StoreUnderTest[] = [fileStore('mbox'), fileStore('zip'), fileStore('maildir')];

/** What each rig server does with the hostile corpus (docs/decisions.md, "Hostile servers"). */
function serverQuirk(kind: ServerInfo['kind'], message: string): Quirk | undefined {
  // Courier stores an empty message as CRLF; the others refuse it.
  if (message === 'empty')
    return kind === 'courier' ? 'altered' : { refused: /zero byte message|empty|invalid|refused/i };
  // Dovecot turns lone CRs into line ends.
  if (kind.startsWith('dovecot') && message === 'bare-cr') return 'altered';
  // Dovecot replaces NUL bytes (with 0x80).
  if (kind.startsWith('dovecot') && message.startsWith('nul-')) return 'altered';
  if (kind === 'cyrus') {
    if (['header-only-nonl', 'bare-cr', 'nul-header'].includes(message))
      return { refused: /invalid|bare|header|refused/i };
  }
  if (
    kind === 'courier' &&
    ['bare-cr', 'mixed-endings', 'header-only-nonl', 'no-final-newline'].includes(message)
  )
    return 'altered';
  return undefined;
}

export function imapStore(server: ServerInfo): StoreUnderTest {
  return {
    name: `imap-${server.kind}`,
    keepsKeywords: true,
    quirk: (m) => serverQuirk(server.kind, m),
    // Measured: Dovecot's Maildir++ refuses a leading '.'; Cyrus refuses '%' and '"'. (Names
    // holding a '.' delimiter are left out: the planner escapes them, see folders.test.ts.)
    refusesFolder: (name) =>
      server.kind === 'cyrus'
        ? ['100%', 'Say "hi"'].includes(name)
        : server.kind === 'dovecot' && name.startsWith('.'),
    async fresh() {
      const account = await serverAccount(server, 'contract');
      const url = accountUrl(account);
      const endpoint = parseEndpoint(url) as ServerEndpoint;
      const ctx: EndpointContext = {
        endpoint,
        log: silentLogger,
        largeMessageBytes: 1 << 20,
        server: {
          endpoint,
          auth: async () => ({ method: 'password', user: account.user, secret: account.password }),
          tls: { ca: [readFileSync(server.caFile, 'utf8')], insecure: false },
          allowPlaintext: false,
          timeoutMs: 30_000,
        },
      };
      return { url, ctx, env: { MAILFERRY_SINK_PASSWORD: account.password }, caFile: [server.caFile] };
    },
  };
}

export async function openSinkOf(e: TestEndpoint): Promise<Sink> {
  return (await sinks[e.ctx.endpoint.kind]!())(e.ctx);
}

export async function openSourceOf(e: TestEndpoint): Promise<Source> {
  return (await sources[e.ctx.endpoint.kind]())(e.ctx);
}

/** The store's own name for a '/'-separated logical folder: its prefix, its delimiter. */
export function storeName(ns: FolderNamespace | undefined, logical: string): string {
  if (logical.toUpperCase() === 'INBOX' || !ns) return logical;
  return ns.prefix + logical.split('/').join(ns.delimiter);
}

export function logicalName(ns: FolderNamespace | undefined, name: string): string {
  if (name.toUpperCase() === 'INBOX' || !ns) return name;
  const rest = ns.prefix && name.startsWith(ns.prefix) ? name.slice(ns.prefix.length) : name;
  return rest.split(ns.delimiter).join('/');
}
