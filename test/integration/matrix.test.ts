import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  logicalOf,
  readLogical,
  type Seeded,
  type SeedFolder,
  type StoredFolder,
  seedFolders,
  serverPath,
  withAccount,
} from '../helpers/imap-any.js';
import { doneCount, runAndKill } from '../helpers/kill.js';
import { countBy } from '../helpers/mailbox.js';
import {
  accountUrl,
  type ServerAccount,
  type ServerInfo,
  serverAccount,
  servers,
} from '../helpers/servers.js';
import { corpusMessages } from '../rig/corpus.js';

/**
 * One matrix over every server of the rig: each server as source into Dovecot, Dovecot into
 * each server, and each server into itself; IMAP->IMAP, POP3->IMAP, IMAP->zip and zip->IMAP.
 * Counts per folder, SHA-256 of every message, flags and internal dates are read back with
 * imapflow directly (test/helpers/imap-any.ts), not through mailferry.
 */

const ALL = servers();
const DOVECOT = ALL.find((s) => s.kind === 'dovecot')!;

/** Folders of every seeded source: nested, special-use, names differing only in case. */
function layout(): SeedFolder[] {
  let offset = 200;
  const take = (n: number) => {
    const m = corpusMessages(n, offset);
    offset += n;
    return m;
  };
  const folders: SeedFolder[] = [
    { name: 'INBOX', messages: take(60) },
    { name: 'Sent', messages: take(30), specialUse: '\\Sent' },
    { name: 'Archive', messages: take(20) },
    { name: 'Archive/2023', messages: take(40) },
    { name: 'case', messages: take(15) },
    { name: 'Case', messages: take(15) },
  ];
  // Not here: a name holding the other side's delimiter. Every rig server refuses one (Dovecot's
  // Maildir++ '.', Cyrus and Courier separate with '.'); test/unit/folders.test.ts covers the rule.
  return folders;
}

const sources = new Map<ServerInfo, Promise<{ account: ServerAccount; seeded: Seeded[] }>>();

/** One seeded source account per server, shared by every case that reads from it. */
function seededSource(server: ServerInfo) {
  let s = sources.get(server);
  if (!s) {
    s = serverAccount(server, 'mxsrc').then(async (account) => ({
      account,
      seeded: await seedFolders(account, layout()),
    }));
    sources.set(server, s);
  }
  return s;
}

const caArgs = () => ALL.flatMap((s) => ['--ca-file', s.caFile]);

function run(command: string, from: string, to: string, state: string, env: NodeJS.ProcessEnv) {
  return runCli(
    [command, from, to, ...caArgs(), '--state-dir', state, '--progress', 'none', '--json'],
    env,
    true,
  );
}

const freshState = () => mkdtempSync(join(tmpdir(), 'mf-matrix-'));

/** The journal of the one pair in a state directory. */
const journalFile = (state: string) => join(state, readdirSync(state)[0]!, 'journal.jsonl');

function env(src?: ServerAccount, sink?: ServerAccount): NodeJS.ProcessEnv {
  return {
    ...(src ? { MAILFERRY_SOURCE_PASSWORD: src.password } : {}),
    ...(sink ? { MAILFERRY_SINK_PASSWORD: sink.password } : {}),
  };
}

/** How a logical name lands on a sink: its delimiter inside a segment becomes the full-width form. */
function atSink(logical: string, sink: ServerInfo): string {
  const d = sink.namespace.delimiter;
  if (d === '/') return logical;
  const wide = String.fromCodePoint(d.codePointAt(0)! + 0xfee0);
  return logical
    .split('/')
    .map((seg) => seg.split(d).join(wide))
    .join('/');
}

const signature = (m: StoredFolder['messages'][number], withFlags: boolean) =>
  `${m.sha256} ${withFlags ? m.flags.join(',') : ''} ${Math.floor(m.internalDate.getTime() / 1000)}`;

/** Every non-empty source folder at its sink name, same multiset of bytes (+ flags) + dates; nothing else. */
function expectSameMail(
  a: Map<string, StoredFolder>,
  b: Map<string, StoredFolder>,
  sink: ServerInfo,
  opts: { flags: boolean } = { flags: true },
): void {
  const nonEmpty = (m: Map<string, StoredFolder>) =>
    [...m]
      .filter(([, f]) => f.messages.length)
      .map(([k]) => k)
      .sort();
  expect(nonEmpty(b)).toEqual(
    nonEmpty(a)
      .map((n) => atSink(n, sink))
      .sort(),
  );
  for (const [name, f] of a) {
    if (!f.messages.length) continue;
    const got = b.get(atSink(name, sink))?.messages ?? [];
    expect(got.length, name).toBe(f.messages.length);
    const sig = (m: StoredFolder['messages'][number]) => signature(m, opts.flags);
    expect(countBy(got, sig), name).toEqual(countBy(f.messages, sig));
  }
}

/** Until the account's INBOX count stays the same for a second. */
async function settled(a: ServerAccount): Promise<void> {
  let last = -1;
  for (let i = 0; i < 30; i++) {
    const n = await withAccount(a, async (c) => {
      const st = await c.status('INBOX', { messages: true });
      return st ? (st.messages ?? 0) : 0;
    });
    if (n === last) return;
    last = n;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function pairs(): Array<[ServerInfo, ServerInfo]> {
  const out: Array<[ServerInfo, ServerInfo]> = [];
  for (const s of ALL) {
    out.push([s, DOVECOT]);
    if (s !== DOVECOT) out.push([DOVECOT, s], [s, s]);
  }
  return out;
}

describe.each(pairs().map(([a, b]) => ({ name: `${a.kind} -> ${b.kind}`, from: a, to: b })))(
  'IMAP -> IMAP $name',
  ({ from, to }) => {
    it('copies every folder exactly; re-runs (same and fresh state) copy 0; verify 0, then 1', {
      timeout: 600_000,
    }, async () => {
      const { account: src, seeded } = await seededSource(from);
      const sink = await serverAccount(to, 'mxdst');
      const e = env(src, sink);
      const state = freshState();
      const first = await run('copy', accountUrl(src), accountUrl(sink), state, e);
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ copied: seeded.length, failed: [] });
      const [a, b] = await Promise.all([readLogical(src), readLogical(sink)]);
      expectSameMail(a, b, to);
      // The source's \Sent lands in a \Sent folder where the sink has or can make one.
      const sent = b.get('Sent');
      const canMark = await withAccount(sink, async (c) => c.capabilities.has('CREATE-SPECIAL-USE'));
      if (canMark || [...b.values()].some((f) => f.specialUse === '\\Sent'))
        expect(sent?.specialUse).toBe('\\Sent');

      const again = await run('copy', accountUrl(src), accountUrl(sink), state, e);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, failed: [] });
      const fresh = await run('copy', accountUrl(src), accountUrl(sink), freshState(), e);
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(JSON.parse(fresh.stdout)).toMatchObject({ copied: 0, failed: [] });
      expectSameMail(a, await readLogical(sink), to);

      const ok = await run('verify', accountUrl(src), accountUrl(sink), state, e);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      await withAccount(sink, async (c) => {
        const lock = await c.getMailboxLock(serverPath(to, 'Archive/2023'));
        try {
          await c.messageDelete('1');
        } finally {
          lock.release();
        }
      });
      const bad = await run('verify', accountUrl(src), accountUrl(sink), state, e);
      expect(bad.code, bad.stdout + bad.stderr).toBe(1);
      const report = JSON.parse(bad.stdout) as { folders: Array<{ source: string; missing: string[] }> };
      const missing = report.folders.filter((f) => f.missing.length);
      expect(missing.map((f) => [logicalOf(from, f.source), f.missing.length])).toEqual([
        ['Archive/2023', 1],
      ]);
    });
  },
);

describe.each(pairs().map(([a, b]) => ({ name: `${a.kind} -> ${b.kind}`, from: a, to: b })))(
  'POP3 -> IMAP $name',
  ({ from, to }) => {
    it('copies INBOX byte-exact; a re-run with a fresh state copies 0; verify exits 0', {
      timeout: 600_000,
    }, async () => {
      const { account: src } = await seededSource(from);
      const sink = await serverAccount(to, 'mxpop');
      const e = env(src, sink);
      const first = await run('copy', accountUrl(src, 'pop3s'), accountUrl(sink), freshState(), e);
      expect(first.code, first.stderr).toBe(0);
      const inbox = (await readLogical(src)).get('INBOX')!.messages;
      expect(JSON.parse(first.stdout)).toMatchObject({ copied: inbox.length, failed: [] });
      const got = (await readLogical(sink)).get('INBOX')?.messages ?? [];
      expect(countBy(got, (m) => m.sha256)).toEqual(countBy(inbox, (m) => m.sha256));
      const fresh = await run('copy', accountUrl(src, 'pop3s'), accountUrl(sink), freshState(), e);
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(JSON.parse(fresh.stdout)).toMatchObject({ copied: 0, failed: [] });
      const ok = await run('verify', accountUrl(src, 'pop3s'), accountUrl(sink), freshState(), e);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    });
  },
);

describe.each(ALL.map((s) => ({ name: s.kind, server: s })))('IMAP -> zip -> IMAP $name', ({ server }) => {
  it('backs up without an extra INBOX level, verifies, and restores every folder exactly', {
    timeout: 600_000,
  }, async () => {
    const { account: src, seeded } = await seededSource(server);
    const zip = `zip:${join(freshState(), 'backup.zip')}`;
    const state = freshState();
    const backup = await run('copy', accountUrl(src), zip, state, env(src));
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ copied: seeded.length, failed: [] });
    const again = await run('copy', accountUrl(src), zip, state, env(src));
    expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, failed: [] });
    const ls = await runCli(['ls', zip, '--json'], {}, true);
    const names = (JSON.parse(ls.stdout) as Array<{ folder: { name: string }; messages: number }>)
      .filter((s) => s.messages > 0)
      .map((s) => s.folder.name);
    const expected = [...new Set(seeded.map((s) => s.folder))].map((n) => atSink(n, DOVECOT));
    expect(names.sort()).toEqual(expected.sort());
    const checked = await run('verify', accountUrl(src), zip, freshState(), env(src));
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);

    // Each backup back into its own server and Dovecot; Dovecot's into every server.
    for (const target of server === DOVECOT ? ALL : [server, DOVECOT]) {
      const sink = await serverAccount(target, 'mxrst');
      const restore = await run('copy', zip, accountUrl(sink), freshState(), env(undefined, sink));
      expect(restore.code, restore.stderr).toBe(0);
      expect(JSON.parse(restore.stdout)).toMatchObject({ copied: seeded.length, failed: [] });
      expectSameMail(await readLogical(src), await readLogical(sink), target);
      const rerun = await run('copy', zip, accountUrl(sink), freshState(), env(undefined, sink));
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout)).toMatchObject({ copied: 0, failed: [] });
      const ok = await run('verify', zip, accountUrl(sink), freshState(), env(undefined, sink));
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    }
  });
});

describe.each(ALL.map((s) => ({ name: s.kind, server: s })))(
  'IMAP -> IMAP killed mid-run, dovecot -> $name',
  ({ server }) => {
    it('SIGKILL with appends in flight, then resumed: every message exactly once', {
      timeout: 600_000,
    }, async () => {
      const { account: src, seeded } = await seededSource(DOVECOT);
      const sink = await serverAccount(server, 'mxkill');
      const e = env(src, sink);
      const state = freshState();
      const args = [
        'copy',
        accountUrl(src),
        accountUrl(sink),
        ...caArgs(),
        '--state-dir',
        state,
        '--progress',
        'none',
        '--json',
      ];
      const slow = [...args, '--max-messages-per-second', '60'];
      const { killed } = await runAndKill(slow, e, () => doneCount(state) >= 50);
      expect(killed).toBe(true);
      // A server may still store an APPEND it had read whole when the client died; Courier took
      // up to a second here. No client can see that coming, so the resume waits it out.
      await settled(sink);
      const resumed = await runCli(args, e, true);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout).copied).toBeLessThan(seeded.length);
      expectSameMail(await readLogical(src), await readLogical(sink), server);
    });
  },
);

describe.each(ALL.map((s) => ({ name: s.kind, server: s })))(
  'IMAP -> IMAP incremental, dovecot -> $name',
  ({ server }) => {
    it('a re-run after new mail at the source copies exactly the new messages', {
      timeout: 300_000,
    }, async () => {
      const src = await serverAccount(DOVECOT, 'mxinc');
      const first = corpusMessages(24, 900);
      const seeded = await seedFolders(src, [
        { name: 'INBOX', messages: first.slice(0, 12) },
        { name: 'Sent', messages: first.slice(12), specialUse: '\\Sent' },
      ]);
      const sink = await serverAccount(server, 'mxinc');
      const state = freshState();
      const e = env(src, sink);
      const once = await run('copy', accountUrl(src), accountUrl(sink), state, e);
      expect(once.code, once.stderr).toBe(0);
      expect(JSON.parse(once.stdout)).toMatchObject({ copied: seeded.length, failed: [] });
      // The sink session now looks into each folder before it appends to it (Courier refuses an
      // APPEND into a folder the session EXAMINEd).
      await seedFolders(src, [
        { name: 'INBOX', messages: corpusMessages(2, 930) },
        { name: 'Sent', messages: corpusMessages(3, 940), specialUse: '\\Sent' },
      ]);
      const twice = await run('copy', accountUrl(src), accountUrl(sink), state, e);
      expect(twice.code, twice.stderr).toBe(0);
      expect(JSON.parse(twice.stdout)).toMatchObject({ copied: 5, failed: [] });
      expectSameMail(await readLogical(src), await readLogical(sink), server);
    });
  },
);

describe.each(ALL.map((s) => ({ name: s.kind, server: s })))(
  'IMAP -> IMAP resume of unanswered appends, dovecot -> $name',
  ({ server }) => {
    it('messages journaled as sent but unanswered are looked up, then the missing ones appended', {
      timeout: 300_000,
    }, async () => {
      const src = await serverAccount(DOVECOT, 'mxres');
      const seeded = await seedFolders(src, [
        { name: 'Sent', messages: corpusMessages(12, 960), specialUse: '\\Sent' },
      ]);
      const sink = await serverAccount(server, 'mxres');
      const state = freshState();
      const e = env(src, sink);
      const once = await run('copy', accountUrl(src), accountUrl(sink), state, e);
      expect(once.code, once.stderr).toBe(0);
      // As after a crash with 4 APPENDs in flight: their intents stand, their answers never came,
      // and 2 of them never reached the sink.
      const file = journalFile(state);
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      const dones = lines.filter((l) => l.includes('"t":"done"')).slice(-4);
      const lost = dones.slice(0, 2).map((l) => Number(JSON.parse(l).sid));
      const kept = lines.filter((l) => !dones.includes(l) && !/"t":"(end|folder)"/.test(l));
      writeFileSync(file, `${kept.join('\n')}\n`);
      await withAccount(sink, async (c) => {
        await c.mailboxOpen(serverPath(server, 'Sent'));
        await c.messageDelete(lost.join(','), { uid: true });
      });
      const resumed = await run('copy', accountUrl(src), accountUrl(sink), state, e);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ copied: 2, failed: [] });
      expect(seeded).toHaveLength(12);
      expectSameMail(await readLogical(src), await readLogical(sink), server);
    });
  },
);
