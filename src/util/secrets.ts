import { ConnectionError, UsageError } from '../errors.js';

/**
 * One place for what keeps secrets and commands whole: values that must not split a protocol
 * line, and the scrubber every server text passes before it reaches a log, report or error.
 */

/** CR and LF end a command on every protocol we speak; NUL splits SASL PLAIN and C strings. */
const LINE_BREAKING = /[\r\n\0]/;

export function hasLineBreak(value: string): boolean {
  return LINE_BREAKING.test(value);
}

/**
 * Refuse a credential or command-line value with CR, LF or NUL before anything connects:
 * sent as is, `pw\r\nDELE 1` would be two POP3 commands. `what` names it without its value.
 */
export function refuseLineBreaks(what: string, value: string, hint?: string): string {
  if (!hasLineBreak(value)) return value;
  throw new UsageError(`${what} contains a line break or NUL character`, {
    hint: hint ?? 'remove the CR, LF or NUL; no protocol can carry it',
  });
}

/** A name for one-line output: a server's folder name may hold CR/LF or other controls. */
export function printable(name: string): string {
  return /[\x00-\x1f\x7f]/.test(name) ? JSON.stringify(name) : name;
}

/** The defensive check at the wire: an argument that would split a command is never written. */
export function assertWireSafe(where: string, command: string): void {
  if (!hasLineBreak(command)) return;
  throw new ConnectionError('EPROTOCOL', `refused to send ${where} a command containing a line break`, {
    hint: 'a folder name, user name or secret contains CR, LF or NUL',
    retryable: false,
  });
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * The secret as a server might repeat it: plain, and as the base64 of the SASL responses
 * that carry it (AUTH PLAIN with and without an authorisation id, XOAUTH2).
 */
export function secretForms(secret: string, user?: string, admin?: string): string[] {
  const forms = [secret, b64(secret)];
  if (user !== undefined) {
    forms.push(
      b64(`\0${user}\0${secret}`),
      b64(`${user}\0${user}\0${secret}`),
      b64(`user=${user}\x01auth=Bearer ${secret}\x01\x01`),
    );
  }
  // A delegated login: the admin authenticates, authorised as the user.
  if (admin !== undefined)
    forms.push(b64(`\0${admin}\0${secret}`), b64(`${user ?? ''}\0${admin}\0${secret}`));
  return forms;
}

/** Shortest secret worth scrubbing: below this, `***` would replace ordinary words. */
const MIN_SECRET = 3;

/** Replace every known secret (and anything shaped like a URL password) with ***. */
export function scrub(text: string, secrets: Iterable<string>): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  const sorted = [...secrets].filter((s) => s.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
  for (const s of sorted) out = out.split(s).join('***');
  return out.replace(/([a-z0-9]+:\/\/[^:/@\s]*):[^@/\s]*@/gi, '$1:***@');
}

/**
 * Every secret handed out is remembered here, with its encoded forms, so the logger, the
 * report and the final error line can scrub it, even from a line built from a server's reply.
 */
export class SecretRegistry {
  private readonly values = new Set<string>();
  add(secret: string, user?: string, admin?: string): string {
    for (const f of secretForms(secret, user, admin)) {
      if (f.length < MIN_SECRET) continue;
      this.values.add(f);
      // As it reads inside JSON (--json, --log-file) when it holds a quote or backslash.
      this.values.add(JSON.stringify(f).slice(1, -1));
    }
    return secret;
  }
  list(): string[] {
    return [...this.values];
  }
  scrub(text: string): string {
    return scrub(text, this.values);
  }
}

/** Variables of mailferry's own that hold secrets; child processes never see them. */
const SECRET_ENV = /^MAILFERRY_.*(PASSWORD|TOKEN|SECRET)/i;

/** The environment for a spawned command: ours, without mailferry's secrets. */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!SECRET_ENV.test(k)) out[k] = v;
  return out;
}
