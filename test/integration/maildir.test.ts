import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileEndpoint } from '../corpus/read-back.js';
import { runCli } from '../helpers/cli.js';
import { readLogical, type Seeded, seedFolders } from '../helpers/imap-any.js';
import { doneCount, runAndKill } from '../helpers/kill.js';
import { rig } from '../helpers/rig.js';
import { accountUrl, type ServerAccount, serverAccount, servers } from '../helpers/servers.js';
import { rigPaths } from '../rig/config.js';
import { corpusMessages } from '../rig/corpus.js';

/**
 * The Maildir store end to end: IMAP -> Maildir -> IMAP through the built CLI, byte-exact with
 * flags and dates; a kill -9 during a backup resumes with each message once; and other
 * programs read what mailferry wrote: Dovecot serving it, Python's mailbox.Maildir, mutt.
 */

const DOVECOT = servers().find((s) => s.kind === 'dovecot')!;
const FOLDERS = ['INBOX', 'Archive', 'Archive/2023', 'Entwürfe'];
let dir: string;
let source: ServerAccount;
let seeded: Seeded[];
let maildir: string;

const opts = (state: string) => [
  '--ca-file',
  DOVECOT.caFile,
  '--state-dir',
  state,
  '--progress',
  'none',
  '--json',
];
const sorted = (xs: string[]) => [...xs].sort();
const signature = (s: { folder: string; sha256: string; flags: string[]; internalDate: Date }) =>
  `${s.folder} ${s.sha256} ${sorted(s.flags.filter((f) => f !== '\\Recent')).join(',')} ${s.internalDate.getTime() / 1000}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mf-maildir-it-'));
  source = await serverAccount(DOVECOT, 'mdsrc');
  let offset = 900;
  seeded = await seedFolders(
    source,
    FOLDERS.map((name, i) => {
      const messages = corpusMessages(8 + i * 3, offset);
      offset += messages.length;
      return { name, messages };
    }),
  );
  maildir = join(dir, 'backup');
  const res = await runCli(
    ['copy', accountUrl(source), `maildir:${maildir}`, ...opts(join(dir, 'state-b'))],
    {
      MAILFERRY_SOURCE_PASSWORD: source.password,
    },
    true,
  );
  expect(res.code, res.stderr).toBe(0);
}, 120_000);

/** Per folder (logical name): SHA-256 of each message's CRLF-normalised bytes, sorted. */
function seededByFolder(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of seeded) out.set(s.folder, sorted([...(out.get(s.folder) ?? []), s.sha256]));
  return out;
}

describe('Maildir store', () => {
  it('IMAP -> Maildir -> IMAP through the built CLI: byte-exact, with flags and internal dates', async () => {
    const target = await serverAccount(DOVECOT, 'mddst');
    const res = await runCli(
      ['copy', `maildir:${maildir}`, accountUrl(target), ...opts(join(dir, 'state-r'))],
      {
        MAILFERRY_SINK_PASSWORD: target.password,
      },
      true,
    );
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).copied).toBe(seeded.length);
    const back = await readLogical(target);
    const got = [...back.entries()].flatMap(([folder, f]) =>
      f.messages.map((m) => signature({ folder, ...m })),
    );
    expect(sorted(got)).toEqual(sorted(seeded.map(signature)));
    // Seeded flags include keywords and \Seen-less messages: both must have survived.
    expect(seeded.some((s) => s.flags.includes('$Label1'))).toBe(true);
    // A second run finds everything there.
    const again = await runCli(
      ['copy', `maildir:${maildir}`, accountUrl(target), ...opts(join(dir, 'state-r'))],
      {
        MAILFERRY_SINK_PASSWORD: target.password,
      },
      true,
    );
    expect(JSON.parse(again.stdout).copied).toBe(0);
  });

  it('Dovecot serves the Maildir mailferry wrote: every message, same SHA-256, flags and dates', async () => {
    const viewer = await serverAccount(DOVECOT, 'mdview');
    const home = join(rigPaths(rig().baseDir).homeDir, viewer.user);
    // cp -a: the mtimes are the internal dates.
    execFileSync('cp', ['-a', maildir, join(home, 'Maildir')]);
    execFileSync('chown', ['-R', `${rig().mailUid}:${rig().mailGid}`, home]);
    const served = await readLogical(viewer);
    const got = [...served.entries()].flatMap(([folder, f]) =>
      f.messages.map((m) => signature({ folder, ...m })),
    );
    expect(sorted(got)).toEqual(sorted(seeded.map(signature)));
  });

  it("Python's mailbox.Maildir counts every message per folder, with the same bytes", () => {
    const py = `import sys, mailbox, hashlib, re, json
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
def shas(box): return sorted(hashlib.sha256(re.sub(rb'(?<!\\r)\\n', b'\\r\\n', box.get_bytes(k))).hexdigest() for k in box.keys())
out = {'INBOX': shas(md)}
for name in md.list_folders(): out[name] = shas(md.get_folder(name))
print(json.dumps(out))`;
    const out = JSON.parse(execFileSync('python3', ['-c', py, maildir], { encoding: 'utf8' })) as Record<
      string,
      string[]
    >;
    // Python names folders by their Maildir++ directory: levels joined by '.', modified UTF-7 as is.
    const onDisk = (f: string) => (f === 'INBOX' ? f : f.replace('/', '.').replace('ü', '&APw-'));
    const want = Object.fromEntries([...seededByFolder()].map(([f, s]) => [onDisk(f), s]));
    // The source's empty special-use folders (Sent, Drafts, ...) were copied as empty folders.
    for (const f of ['Sent', 'Drafts', 'Trash', 'Junk']) want[f] = [];
    expect(out).toEqual(want);
  });

  it('mutt opens each folder and pipes out every message', () => {
    const rc = join(dir, 'muttrc');
    writeFileSync(rc, 'set pipe_split=yes\nset wait_key=no\nset pipe_sep="MFSEP\\n"\n');
    for (const [folder, shas] of seededByFolder()) {
      const path =
        folder === 'INBOX' ? maildir : join(maildir, `.${folder.replace('/', '.').replace('ü', '&APw-')}`);
      const out = join(dir, `mutt-${shas.length}-${Math.random().toString(36).slice(2)}`);
      const push = `push "<tag-pattern>~A<enter><tag-prefix><pipe-message>cat >> ${out}<enter><quit>"`;
      // mutt needs a terminal: script(1) gives it one.
      execFileSync('script', ['-qec', `mutt -n -F ${rc} -R -f '${path}' -e '${push}'`, '/dev/null'], {
        stdio: 'ignore',
        timeout: 30_000,
      });
      const text = execFileSync('cat', [out], { encoding: 'latin1' });
      // mutt writes the separator after every message.
      expect(text.split('MFSEP\n').length - 1, folder).toBe(shas.length);
    }
  });

  it('a kill -9 during a Maildir backup resumes with each message once', async () => {
    const target = join(dir, 'killed');
    const state = join(dir, 'state-k');
    const args = [
      'copy',
      accountUrl(source),
      `maildir:${target}`,
      ...opts(state),
      '--max-messages-per-second',
      '20',
    ];
    const env = { MAILFERRY_SOURCE_PASSWORD: source.password };
    const { killed } = await runAndKill(args, env, () => doneCount(state) >= 5);
    expect(killed).toBe(true);
    const resumed = await runCli(args.slice(0, -2), env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const held = await readFileEndpoint(`maildir:${target}`);
    expect(sorted(held.map((h) => `${h.folder} ${h.sha256}`))).toEqual(
      sorted(seeded.map((s) => `${s.folder} ${s.sha256}`)),
    );
    for (const f of ['tmp', '.Archive/tmp']) expect(readdirSync(join(target, f))).toEqual([]);
  });
});
