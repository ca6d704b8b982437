import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultTransferOptions } from '../../src/config.js';
import { describeEndpoint, parseEndpoint } from '../../src/endpoint.js';
import type { FolderPlan } from '../../src/plan/diff.js';
import { skipOverProviderLimit } from '../../src/plan/provider-limits.js';
import { withPreset } from '../../src/providers.js';
import { pairDir } from '../../src/run/checkpoint.js';
import { runCli } from '../helpers/cli.js';
import { copyFrom, hostileDirs } from '../helpers/hostile-run.js';
import { type HostileServer, startHostileImap } from '../helpers/hostile-server.js';

const MiB = 1024 * 1024;
const msg = (i: number) => Buffer.from(`Message-ID: <m${i}@x>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('Microsoft 365 shared mailboxes (admin\\shared)', () => {
  it('the user form survives URL parsing, encoded or not; the state is named by the mailbox', () => {
    for (const url of [
      'imaps://admin%5Cshared@outlook.office365.com',
      'imaps://admin\\shared@outlook.office365.com',
    ]) {
      const e = parseEndpoint(url);
      expect(e).toMatchObject({ user: 'admin\\shared', host: 'outlook.office365.com' });
      expect(describeEndpoint(e)).toBe('imaps://shared@outlook.office365.com:993');
    }
    const other = parseEndpoint('imaps://it%40corp.com%5Cshared@outlook.office365.com');
    expect(other).toMatchObject({ user: 'it@corp.com\\shared' });
    const sink = 'mbox:/tmp/x';
    expect(pairDir('/s', describeEndpoint(other), sink)).toBe(
      pairDir('/s', describeEndpoint(parseEndpoint('imaps://admin%5Cshared@outlook.office365.com')), sink),
    );
  });

  it('logs in as admin\\shared and keeps its state under the shared mailbox', async () => {
    // The scripted server compares the quoted string as sent: one backslash is sent as two.
    server = await startHostileImap({ user: 'admin\\\\shared', folders: { INBOX: [msg(1), msg(2)] } });
    const d = hostileDirs('shared');
    const src = `imap://admin%5Cshared@127.0.0.1:${server.port}`;
    const res = await copyFrom(src, `mbox:${d.sink}`, d.state);
    expect(res.code, res.stderr).toBe(0);
    expect(res.report!.copied).toBe(2);
    expect(server.commands.some((l) => /LOGIN "admin\\\\shared"/.test(l))).toBe(true);
    expect(existsSync(pairDir(d.state, `imap://shared@127.0.0.1:${server.port}`, `mbox:${d.sink}`))).toBe(
      true,
    );
  });
});

describe('--provider m365', () => {
  it('caps connections at 20 and never raises them', () => {
    expect(withPreset(defaultTransferOptions({ connections: 64, provider: 'm365' })).connections).toBe(20);
    expect(withPreset(defaultTransferOptions({ connections: 2, provider: 'm365' })).connections).toBe(2);
    expect(withPreset(defaultTransferOptions({ connections: 64, provider: 'gmail' })).connections).toBe(15);
    expect(withPreset(defaultTransferOptions({ connections: 64 })).connections).toBe(64);
  });

  it('lists a message over 150 MB as skipped instead of uploading it', () => {
    const fp: FolderPlan = {
      source: { name: 'INBOX', delimiter: '/' },
      target: { name: 'INBOX', delimiter: '/' },
      create: false,
      copy: [
        { id: '1', size: 150 * MiB, flags: [] },
        { id: '2', size: 150 * MiB + 1, flags: [] },
      ],
      present: [],
      flagUpdates: [],
      skipped: [],
    };
    skipOverProviderLimit([fp], defaultTransferOptions({ provider: 'm365' }));
    expect(fp.copy.map((m) => m.id)).toEqual(['1']);
    expect(fp.skipped).toEqual([{ id: '2', reason: expect.stringMatching(/Microsoft 365's 150 MB/) }]);
  });

  it('plan --provider m365 shows the oversize message skipped, and nothing of it is fetched', async () => {
    server = await startHostileImap({
      folders: { INBOX: [msg(1), { bytes: msg(2), declaredSize: 151 * MiB }] },
    });
    const d = hostileDirs('m365');
    const res = await runCli(
      [
        'plan',
        `imap://user@127.0.0.1:${server.port}`,
        `mbox:${d.sink}`,
        '--state-dir',
        d.state,
        '--json',
        '--provider',
        'm365',
      ],
      { MAILFERRY_SOURCE_PASSWORD: 'secret' },
    );
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout) as { totals: { copy: number; skipped: number } };
    expect(plan.totals).toMatchObject({ copy: 1, skipped: 1 });
    expect(server.commands.some((l) => /BODY(\.PEEK)?\[\]/i.test(l))).toBe(false);
  });
});
