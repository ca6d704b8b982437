import { createHash } from 'node:crypto';
import { ConnectionError } from '../errors.js';
import { type AuthSecret, authFailed, secretAdmin } from '../util/net.js';
import { scrub, secretForms } from '../util/secrets.js';
import type { Pop3Capabilities, Pop3ClientOptions } from './client.js';
import { Pop3ReplyError, type Pop3Wire } from './wire.js';

function chooseMethod(opts: Pop3ClientOptions, capa: Pop3Capabilities | undefined, timestamp?: string) {
  if (opts.auth && opts.auth !== 'auto') return opts.auth;
  if (capa?.get('SASL')?.some((m) => m.toUpperCase() === 'PLAIN')) return 'plain';
  if (!capa || capa.has('USER')) return 'user';
  return timestamp ? 'apop' : 'user';
}

/** USER/PASS, APOP, SASL PLAIN or XOAUTH2, as the options and the server's CAPA say. */
export async function login(
  wire: Pop3Wire,
  opts: Pop3ClientOptions,
  capa: Pop3Capabilities | undefined,
  greeting: string,
  secret: AuthSecret,
): Promise<void> {
  const timestamp = /<[^<>@]*@[^<>]*>/.exec(greeting)?.[0];
  const user = secret.user;
  try {
    if (secret.method === 'xoauth2') {
      const ir = b64(`user=${user}\x01auth=Bearer ${secret.secret}\x01\x01`);
      // Sent after the "+" rather than inline: a token easily passes the 255-octet command limit.
      // A second challenge carries the server's JSON error; an empty line ends the exchange.
      await wire.sasl('AUTH XOAUTH2', answers([ir], ''));
      return;
    }
    if (secret.admin !== undefined) {
      await delegatedLogin(wire, capa, user, secret.admin, secret.secret);
      return;
    }
    const method = chooseMethod(opts, capa, timestamp);
    if (method === 'plain') {
      await wire.sasl('AUTH PLAIN', answers([b64(`\0${user}\0${secret.secret}`)], '*'));
    } else if (method === 'apop') {
      if (!timestamp)
        throw new ConnectionError('EAUTH', `${wire.where} offers no APOP timestamp`, { retryable: false });
      const digest = createHash('md5')
        .update(timestamp + secret.secret, 'utf8')
        .digest('hex');
      await wire.command(`APOP ${user} ${digest}`, 'single', 'APOP');
    } else {
      await wire.command(`USER ${user}`, 'single', 'USER');
      await wire.command(`PASS ${secret.secret}`, 'single', 'PASS');
    }
  } catch (err) {
    throw loginError(err, opts, secret);
  }
}

/** SASL PLAIN with an authorisation identity (RFC 4616): `user\0admin\0password`. */
async function delegatedLogin(
  wire: Pop3Wire,
  capa: Pop3Capabilities | undefined,
  user: string,
  admin: string,
  password: string,
): Promise<void> {
  if (!capa?.get('SASL')?.some((m) => m.toUpperCase() === 'PLAIN')) {
    throw new ConnectionError('EAUTH', `${wire.where} offers no SASL PLAIN, which a delegated login needs`, {
      hint: 'drop --source-auth-user and log in as the user, or ask the operator to enable AUTH PLAIN',
      retryable: false,
    });
  }
  await wire.sasl('AUTH PLAIN', answers([b64(`${user}\0${admin}\0${password}`)], '*'));
}

function loginError(err: unknown, opts: Pop3ClientOptions, secret: AuthSecret): unknown {
  if (!(err instanceof Pop3ReplyError)) return err;
  const ep = opts.server.endpoint;
  // A server that echoes what it got must not leak the secret into our error text.
  const said = scrub(err.serverText, secretForms(secret.secret, secret.user, secretAdmin(secret)));
  const code = err.responseCode;
  if (code === 'IN-USE' || code === 'SYS/TEMP' || code === 'LOGIN-DELAY') {
    return new ConnectionError(
      'ETHROTTLED',
      `${ep.host} cannot open the mailbox of ${ep.user} now: ${said}`,
      {
        hint:
          code === 'IN-USE' ? 'another POP3 session holds the mailbox; close it or wait' : 'wait and re-run',
        retryable: true,
      },
    );
  }
  return authFailed(ep, said, secret.method === 'xoauth2');
}

/** SASL responses in turn, then `rest` (cancel) for any further challenge. */
function answers(steps: string[], rest: string): () => string {
  return () => steps.shift() ?? rest;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
