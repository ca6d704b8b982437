/**
 * Issue 16 against the scripted hostile server: a refusal that repeats the password, CR/LF
 * injection at a POP3 server, a folder name with CR/LF in LIST, a server without UIDVALIDITY.
 * Through the built CLI; the server records every command it received.
 */

import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorLines, runCli } from '../helpers/cli.js';
import { type HostileServer, startHostileImap, startHostilePop3 } from '../helpers/hostile-server.js';

const servers: HostileServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const msg = (n: number) =>
  Buffer.from(`Message-ID: <hostile-${n}@test>\r\nSubject: m${n}\r\n\r\nbody ${n}\r\n`, 'latin1');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function allText(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f, 'latin1'))
    .join('\n');
}

function copyArgs(source: string, sink: string, stateDir: string, extra: string[] = []): string[] {
  return ['copy', source, sink, '--state-dir', stateDir, '--progress', 'none', ...extra];
}

describe('a server that repeats the password', () => {
  it('IMAP LOGIN refused with the password (and its AUTH PLAIN base64) in the text: scrubbed everywhere', async () => {
    const password = 'Hunter2-very-secret';
    const plain = b64(`user\0user\0${password}`);
    const imap = await startHostileImap({
      onCommand: async (c) => {
        if (c.verb !== 'LOGIN') return false;
        await c.write(`${c.tag} NO [AUTHENTICATIONFAILED] bad LOGIN ${c.args} (${plain})\r\n`);
        return true;
      },
    });
    servers.push(imap);
    const stateDir = tmp('mf-hs-st-');
    const logDir = tmp('mf-hs-log-');
    const logFile = join(logDir, 'run.jsonl');
    const res = await runCli(
      copyArgs(`imap://user@127.0.0.1:${imap.port}`, `mbox:${tmp('mf-hs-out-')}`, stateDir, [
        '--log-file',
        logFile,
        '--json',
      ]),
      { MAILFERRY_SOURCE_PASSWORD: password },
      true,
    );
    expect(res.code).toBe(3);
    const last = errorLines(res.stderr).at(-1);
    expect(last).toMatch(/login as user at 127\.0\.0\.1 rejected: .*bad LOGIN/);
    expect(imap.commands.some((l) => l.includes(password))).toBe(true);
    const written = [res.stdout, res.stderr, allText(logDir), allText(stateDir)].join('\n');
    expect(written).not.toContain(password);
    expect(written).not.toContain(plain);
    // --verbose prints the stack: scrubbed too.
    const verbose = await runCli(
      copyArgs(`imap://user@127.0.0.1:${imap.port}`, `mbox:${tmp('mf-hs-out-')}`, tmp('mf-hs-st-'), [
        '--verbose',
      ]),
      { MAILFERRY_SOURCE_PASSWORD: password },
      true,
    );
    expect(verbose.code).toBe(3);
    expect(verbose.stderr).not.toContain(password);
    expect(verbose.stderr).not.toContain(plain);
  });
});

describe('CR/LF injection at a POP3 server', () => {
  it('the password with DELE lines never reaches the server: exit 2, no connection, no DELE', async () => {
    const pop = await startHostilePop3({ user: 'user', password: 'pw', messages: [msg(1), msg(2)] });
    servers.push(pop);
    const res = await runCli(
      copyArgs(`pop3://user@127.0.0.1:${pop.port}`, `mbox:${tmp('mf-hs-out-')}`, tmp('mf-hs-st-')),
      { MAILFERRY_SOURCE_PASSWORD: 'pw\r\nDELE 1\r\nDELE 2\r\nQUIT' },
      true,
    );
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr)).toEqual([
      expect.stringMatching(/source password in MAILFERRY_SOURCE_PASSWORD contains a line break or NUL/),
    ]);
    expect(pop.commands.filter((l) => /^DELE/i.test(l))).toEqual([]);
    expect(pop.commands).toEqual([]);
  });
});

describe('hostile folder state', () => {
  it('a folder name with CR/LF from LIST fails that folder only; the others are copied, exit 1', async () => {
    const bad = 'Bad\r\nA1 DELETE INBOX';
    const imap = await startHostileImap({
      folders: { INBOX: [msg(1)], Good: [msg(2)] },
      onCommand: async (c) => {
        if (c.verb !== 'LIST' || !/"\*"|\*$/.test(c.args)) return false;
        await c.write('* LIST (\\HasNoChildren) "/" "INBOX"\r\n* LIST (\\HasNoChildren) "/" "Good"\r\n');
        await c.write(`* LIST (\\HasNoChildren) "/" {${bad.length}}\r\n${bad}\r\n`);
        await c.write(`${c.tag} OK LIST done\r\n`);
        return true;
      },
    });
    servers.push(imap);
    const out = tmp('mf-hs-out-');
    const res = await runCli(
      copyArgs(`imap://user@127.0.0.1:${imap.port}`, `mbox:${out}`, tmp('mf-hs-st-'), ['--json']),
      { MAILFERRY_SOURCE_PASSWORD: 'secret' },
      true,
    );
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as {
      copied: number;
      failed: Array<{ folder: string; code: string }>;
    };
    expect(report.copied).toBe(2);
    expect(report.failed).toEqual([expect.objectContaining({ folder: bad, code: 'EFOLDER' })]);
    expect(imap.commands.filter((l) => /DELETE/i.test(l))).toEqual([]);
    const text = allText(out);
    expect(text).toContain('body 1');
    expect(text).toContain('body 2');
  });

  it('a server without UIDVALIDITY: inventory works, messages are copied once, a re-run copies nothing', async () => {
    const imap = await startHostileImap({ folders: { INBOX: [msg(1), msg(2)] } });
    servers.push(imap);
    const proxy = await withoutUidValidity(imap.port);
    const out = tmp('mf-hs-out-');
    const stateDir = tmp('mf-hs-st-');
    const args = copyArgs(`imap://user@127.0.0.1:${proxy.port}`, `mbox:${out}`, stateDir, ['--json']);
    try {
      const first = await runCli(args, { MAILFERRY_SOURCE_PASSWORD: 'secret' }, true);
      expect(errorLines(first.stderr)).toEqual([]);
      expect(first.code).toBe(0);
      expect((JSON.parse(first.stdout) as { copied: number }).copied).toBe(2);
      expect(proxy.stripped()).toBeGreaterThan(0);
      const again = await runCli(args, { MAILFERRY_SOURCE_PASSWORD: 'secret' }, true);
      expect(errorLines(again.stderr)).toEqual([]);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, alreadyPresent: 2 });
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A proxy in front of the hostile IMAP server that removes every UIDVALIDITY the server
 * sends (the SELECT response code and the STATUS item), line by line.
 */
async function withoutUidValidity(
  port: number,
): Promise<{ port: number; stripped(): number; close(): Promise<void> }> {
  let stripped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => client.destroy());
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    let pending = '';
    upstream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      const end = pending.lastIndexOf('\r\n');
      if (end < 0) return;
      const lines = pending.slice(0, end + 2);
      pending = pending.slice(end + 2);
      const out = lines
        .replace(/^\* OK \[UIDVALIDITY \d+\][^\r\n]*\r\n/gm, () => {
          stripped++;
          return '';
        })
        .replace(/ UIDVALIDITY \d+/g, () => {
          stripped++;
          return '';
        });
      client.write(Buffer.from(out, 'latin1'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stripped: () => stripped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
