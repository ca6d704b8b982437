import type { ServerEndpoint } from '../endpoint.js';
import { ConnectionError, FolderError, LimitError, MailferryError, MessageError } from '../errors.js';
import { OVERSIZE_CODES } from '../mail/limits.js';
import { authFailed, classifyNetError } from '../util/net.js';
import { scrub } from '../util/secrets.js';
import { dailyLimit } from './daily-limit.js';

/** What was being done when an IMAP command failed; decides how much a plain NO breaks. */
export type ImapOp = 'connect' | 'append' | 'folder' | 'message' | 'session';

export interface ImapErrorContext {
  endpoint: ServerEndpoint;
  op: ImapOp;
  folder?: string;
  /** The login used an OAuth2 token (the failure hint differs). */
  oauth2?: boolean;
  /** The session's secret in every form a server may repeat; scrubbed from the error. */
  secrets?: readonly string[];
}

/** The fields imapflow puts on the errors it raises (all optional, depending on the source). */
interface ImapFlowErrorLike {
  message?: string;
  code?: string;
  responseStatus?: string;
  responseText?: string;
  response?: unknown;
  serverResponseCode?: string;
  authenticationFailed?: boolean;
  throttleReset?: number;
  throttleWaited?: number;
  reason?: string;
  mailboxMissing?: boolean;
}

const QUOTA_TEXT = /\bquota\b|mailbox (for user )?is full|over ?quota|storage (limit|full)/i;
const TOOBIG_TEXT =
  /\btoo (big|large)\b|message size|size (limit|exceeded)|exceeds? (the )?(max(imum)?|size|limit)|max(imum)? (message )?size/i;
const THROTTLE_TEXT =
  /request is throttled|account exceeded command or bandwidth limits|too many (simultaneous |concurrent )?connections|maximum number of connections/i;
const THROTTLE_CODES = new Set(['THROTTLED', 'LIMIT', 'UNAVAILABLE']);
const GONE_CODES = new Set([
  'NoConnection',
  'EConnectionClosed',
  'StateLogout',
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
]);
const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT']);

/** The server's human text for a failed command, without tags or response codes. */
export function serverText(e: ImapFlowErrorLike): string {
  if (e.responseText) return clean(e.responseText);
  if (typeof e.response === 'string' && e.response)
    return clean(e.response.replace(/^\S+\s+(NO|BAD|BYE)\s+/i, ''));
  if (e.reason) return clean(e.reason);
  return '';
}

function clean(text: string): string {
  return text
    .replace(/^\[[^\]]*\]\s*/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** The response code in brackets (OVERQUOTA, TOOBIG, ...), from imapflow's field or the text. */
function responseCode(e: ImapFlowErrorLike): string {
  if (e.serverResponseCode) return e.serverResponseCode.toUpperCase();
  const section = sectionCode(e.response);
  if (section) return section;
  const raw = e.responseText ?? (typeof e.response === 'string' ? e.response : '') ?? '';
  return /\[([A-Z-]+)/i.exec(raw)?.[1]?.toUpperCase() ?? '';
}

/**
 * imapflow's FETCH path rethrows the parsed response as is: the code then sits only in
 * response.attributes[0].section[0].value (e.g. `NO [UNAVAILABLE]`), not in serverResponseCode.
 */
function sectionCode(response: unknown): string | undefined {
  const attrs = (response as { attributes?: Array<{ section?: Array<{ value?: unknown }> }> } | undefined)
    ?.attributes;
  const value = attrs?.[0]?.section?.[0]?.value;
  return typeof value === 'string' && value ? value.toUpperCase() : undefined;
}

function backoffMs(e: ImapFlowErrorLike, text: string): number | undefined {
  const hinted = e.throttleReset ?? Number(/Backoff Time[:=\s]+(\d+)/i.exec(text)?.[1] ?? Number.NaN);
  if (!Number.isFinite(hinted)) return undefined;
  // imapflow already waited part of the hint before rejecting.
  return Math.max(0, hinted - (e.throttleWaited ?? 0));
}

/**
 * Turn any imapflow failure into one of mailferry's error classes. One place, so every
 * command maps quota, size, throttling and lost connections the same way.
 */
export function mapImapError(err: unknown, where: ImapErrorContext): MailferryError {
  const mapped = classify(err, where);
  // A refusal may quote the LOGIN line back: the secret never reaches our message.
  if (where.secrets?.length) {
    mapped.message = scrub(mapped.message, where.secrets);
    if (mapped.stack) mapped.stack = scrub(mapped.stack, where.secrets);
  }
  return mapped;
}

function classify(err: unknown, where: ImapErrorContext): MailferryError {
  if (err instanceof MailferryError) return err;
  const e = (err ?? {}) as ImapFlowErrorLike;
  const { endpoint, op } = where;
  const text = serverText(e);
  const code = responseCode(e);
  const host = endpoint.host;
  const said = text ? `: ${text}` : '';

  const daily = isRefusal(e) ? dailyLimit(code, text, host) : undefined;
  if (daily) return daily;
  // Dovecot says [LIMIT] also for a message over its size limit: that one is not throttling.
  const sizeRefusal = op === 'append' && TOOBIG_TEXT.test(text);
  if (e.code === 'ETHROTTLE' || (THROTTLE_CODES.has(code) && !sizeRefusal) || THROTTLE_TEXT.test(text)) {
    return new ConnectionError('ETHROTTLED', `${host} is throttling this account${said}`, {
      hint: 'wait, or lower --connections / --max-messages-per-second',
      retryAfterMs: backoffMs(e, text),
      cause: err,
    });
  }
  // A throttled login is not a wrong password.
  if (e.authenticationFailed) {
    return authFailed(endpoint, text || undefined, where.oauth2);
  }
  if (code === 'OVERQUOTA' || (isRefusal(e) && QUOTA_TEXT.test(text))) {
    return new LimitError('EQUOTA', `the mailbox at ${host} is full${said}`, {
      hint: 'free space or raise the quota, then run the same command to resume',
      cause: err,
    });
  }
  if (
    code === 'TOOBIG' ||
    code === 'APPENDLIMIT' ||
    (code === 'LIMIT' && sizeRefusal) ||
    (op === 'append' && isRefusal(e) && TOOBIG_TEXT.test(text))
  ) {
    return new MessageError(
      'ETOOBIG',
      `${host} refused the message as too big${said || `: ${e.message ?? ''}`}`,
      {
        cause: err,
      },
    );
  }
  if (e.mailboxMissing || e.code === 'NotFound' || code === 'NONEXISTENT' || code === 'TRYCREATE') {
    const name = where.folder ? ` '${where.folder}'` : '';
    return new FolderError('ENOFOLDER', `folder${name} does not exist at ${host}`, { cause: err });
  }
  if (e.code && OVERSIZE_CODES.has(e.code)) {
    // imapflow's parser refused a reply past our limits and closed the connection.
    return new ConnectionError(
      'EPROTOCOL',
      `${host} sent a reply larger than anything asked for (${e.message ?? e.code})`,
      { hint: 'the server misreports sizes; report it to its operator', retryable: true, cause: err },
    );
  }
  if (isRefusal(e)) return refused(e, where, text, err);
  return lostOrNet(e, where, text, err);
}

function isRefusal(e: ImapFlowErrorLike): boolean {
  return e.responseStatus === 'NO' || e.responseStatus === 'BAD';
}

/** A plain NO/BAD: how much broke depends on what was being done. */
function refused(
  e: ImapFlowErrorLike,
  where: ImapErrorContext,
  text: string,
  cause: unknown,
): MailferryError {
  const host = where.endpoint.host;
  const why = text || `${e.responseStatus} without a reason`;
  const folder = where.folder ? ` '${where.folder}'` : '';
  switch (where.op) {
    case 'append':
      return new MessageError(
        'EREJECTED',
        `${host} refused the message${folder ? ` for${folder}` : ''}: ${why}`,
        {
          cause,
        },
      );
    case 'message':
      return new MessageError('EREJECTED', `${host} would not hand out the message: ${why}`, { cause });
    case 'folder':
      return new FolderError('EFOLDER', `folder${folder} at ${host}: ${why}`, { cause });
    default:
      return new ConnectionError('EPROTOCOL', `${host} refused a command: ${why}`, {
        cause,
        retryable: false,
      });
  }
}

function lostOrNet(
  e: ImapFlowErrorLike,
  where: ImapErrorContext,
  text: string,
  cause: unknown,
): MailferryError {
  const { endpoint } = where;
  const at = `${endpoint.host}:${endpoint.port}`;
  if ((e.code && GONE_CODES.has(e.code)) || e.responseStatus === 'BYE') {
    const said = text && text !== 'Server closed connection' ? `: ${text}` : '';
    return new ConnectionError('ECLOSED', `connection to ${at} closed${said}`, { cause });
  }
  if (e.code && TIMEOUT_CODES.has(e.code)) {
    return new ConnectionError('ETIMEDOUT', `no answer from ${at} in time`, {
      hint: 'check the host, port and firewall',
      cause,
    });
  }
  return classifyNetError(cause, endpoint);
}
