#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { formatReport } from '../commands/copy.js';
import { formatLs } from '../commands/ls.js';
import { formatStatus } from '../commands/status.js';
import { formatVerify } from '../commands/verify.js';
import { SecretRegistry } from '../credentials.js';
import { exitCodeOf, formatError, InterruptedError, UsageError } from '../errors.js';
import { copy, ls, plan, status, verify } from '../index.js';
import { formatPlan } from '../plan/format.js';
import { PROVIDERS } from '../providers.js';
import { batchCommands } from './batch.js';
import { exitWith } from './exit.js';
import { type CliArgs, toRequest } from './options.js';
import { version } from './version.js';

const EXAMPLES = {
  copy: 'MAILFERRY_SOURCE_PASSWORD=... MAILFERRY_SINK_PASSWORD=... $0 copy pop3s://me%40old.example@pop.old.example imaps://me@imap.new.example --delete-source',
  plan: '$0 plan imaps://me@imap.old.example imaps://me@imap.new.example --json',
  verify: '$0 verify imaps://me@imap.example zip:backup.zip',
  ls: '$0 ls imaps://me@imap.example',
  status: '$0 status --state-dir ~/.local/state/mailferry',
};

const EXIT_CODES = `Exit codes:
  0    done: every planned message is in the sink (verify: every source message compared, identical)
  1    finished, but some messages failed or were set aside; the report lists each with its reason
  2    usage or configuration error; also an option a store cannot honour, a pair or archive in use
  3    cannot connect to, authenticate with, or trust a server
  4    stopped by a sink limit (quota full, daily limit); resumable
  70   internal error: the run could not finish or report (run again to resume; please report it)
  130  interrupted (Ctrl-C / SIGTERM); the checkpoint is saved`;

/** --folder has no yargs default: given with a source that has folders, it is refused (commands/refuse.ts). */
function transferOptions(y: Argv): Argv<CliArgs> {
  return y
    .positional('source', { type: 'string', demandOption: true, describe: 'where mail comes from' })
    .positional('sink', { type: 'string', demandOption: true, describe: 'where mail goes' })
    .option('include', { type: 'string', array: true, describe: 'only folders matching GLOB (repeatable)' })
    .option('exclude', {
      type: 'string',
      array: true,
      describe: 'leave out folders matching GLOB (repeatable)',
    })
    .option('map', { type: 'string', array: true, describe: "rename a folder: 'FROM=TO' (repeatable)" })
    .option('folder', {
      type: 'string',
      defaultDescription: 'INBOX',
      describe: 'target folder for POP3 mail',
    })
    .option('since', { type: 'string', describe: 'only messages on or after DATE' })
    .option('before', { type: 'string', describe: 'only messages before DATE' })
    .option('connections', {
      type: 'number',
      default: 4,
      describe: 'most connections per side, 1-64 (IMAP batches messages on each)',
    })
    .option('max-messages-per-second', {
      type: 'number',
      describe: 'most message starts per second, 0.001-100000',
    })
    .option('max-bytes-per-second', { type: 'string', describe: 'e.g. 500k, 2M; at least 1' })
    .option('delete-source', {
      type: 'boolean',
      default: false,
      describe: 'delete from the source once each copy is confirmed',
    })
    .option('unread', {
      type: 'boolean',
      default: false,
      describe: 'POP3: leave copies unseen (default: \\Seen)',
    })
    .option('include-all-mail', {
      type: 'boolean',
      default: false,
      describe: "copy Gmail's [Gmail]/All Mail whole (default: only what no other folder holds)",
    })
    .option('gmail-labels', {
      choices: ['folders', 'keywords'] as const,
      default: 'folders' as const,
      describe:
        'a source with an All Mail folder: labels as folders, or one copy each with labels as keywords',
    })
    .option('provider', {
      choices: PROVIDERS,
      describe:
        "the sink's (or source's) provider: m365 = at most 20 connections, no upload over 150 MB; gmail = at most 15 connections",
    })
    .option('large-message', { type: 'string', default: '8M', describe: 'stream messages above this size' })
    .option('retries', {
      type: 'number',
      default: 5,
      describe: 'retries per message on transient errors, 0-100',
    })
    .option('max-throttle-wait', {
      type: 'number',
      default: 900,
      describe: 'seconds of server throttling to sit out before stopping with exit 4, 1-604800',
    })
    .option('dry-run', { type: 'boolean', default: false, describe: 'copy behaves as plan' })
    .option('progress', { choices: ['auto', 'bar', 'log', 'none'] as const, default: 'auto' as const })
    .option('source-password-file', { type: 'string' })
    .option('sink-password-file', { type: 'string' })
    .option('source-oauth2-command', { type: 'string' })
    .option('sink-oauth2-command', { type: 'string' })
    .option('source-auth-user', {
      type: 'string',
      describe: "delegated login: authenticate as this admin (its password) on behalf of the URL's user",
    })
    .option('sink-auth-user', {
      type: 'string',
      describe: "delegated login at the sink: this admin, on behalf of the URL's user",
    }) as unknown as Argv<CliArgs>;
}

/** How long a stop may take after SIGINT/SIGTERM before mailferry exits anyway. */
const HARD_STOP_MS = 5000;

async function main(argv: string[]): Promise<number> {
  const ac = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(
      'mailferry: stopping; the checkpoint is being saved (press Ctrl-C again to quit at once)\n',
    );
    ac.abort();
    // The graceful stop waits for what is in flight, and a read that never ends (a 10 GiB
    // entry, a server that stalls) would hold it forever. The journal is written line by
    // line as work completes, so a hard exit loses nothing it recorded.
    setTimeout(() => {
      process.stderr.write(`${formatError(contextOf(argv), new InterruptedError())}\n`);
      process.exit(130);
    }, HARD_STOP_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let verbose = argv.includes('--verbose');
  // Every line we print passes the scrubber: a server's text can repeat a password.
  const secrets = new SecretRegistry();
  const out = (s: string) => process.stdout.write(`${secrets.scrub(s)}\n`);
  const err = (s: string) => process.stderr.write(`${secrets.scrub(s)}\n`);
  try {
    let code = 0;
    await yargs(argv)
      .scriptName('mailferry')
      .usage(
        '$0 <command> [options]\n\nMove and back up mailboxes: POP3 and IMAP to IMAP, mbox, zip or Maildir.',
      )
      .option('state-dir', {
        type: 'string',
        describe: 'where checkpoints live (default $XDG_STATE_HOME/mailferry)',
      })
      .option('ca-file', {
        type: 'string',
        array: true,
        describe: 'trust this CA (PEM) besides the system ones',
      })
      .option('insecure', { type: 'boolean', default: false, describe: 'do not verify TLS certificates' })
      .option('allow-plaintext', {
        type: 'boolean',
        default: false,
        describe: 'allow a password without TLS to a non-loopback host',
      })
      .option('timeout', {
        type: 'number',
        default: 60,
        describe: 'seconds to wait for a server, and for a message whose bytes stopped moving, 1-86400',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' })
      .option('log-file', { type: 'string', describe: 'write a JSON-lines log here' })
      .option('verbose', { type: 'boolean', default: false })
      .command(
        'copy <source> <sink>',
        'transfer; re-running resumes, then copies only what is new',
        transferOptions,
        async (a) => {
          const req = toRequest(a, ac.signal, secrets);
          const r = await copy(a.source, a.sink, req);
          if (a.json) out(JSON.stringify(r, null, 2));
          else if (r.dryRun && r.plan) out(formatPlan(r.plan));
          else err(formatReport(r));
          const stop = r.stoppedBy;
          if (stop) err(`mailferry: copy stopped: ${stop.message}${stop.hint ? ` (${stop.hint})` : ''}`);
          code = r.exitCode;
        },
      )
      .example(EXAMPLES.copy, 'leave a POP3 provider, deleting only confirmed copies')
      .command(
        'plan <source> <sink>',
        'show what copy would do, without writing anything',
        transferOptions,
        async (a) => {
          const p = await plan(a.source, a.sink, toRequest(a, ac.signal, secrets));
          out(a.json ? JSON.stringify(p, null, 2) : formatPlan(p));
        },
      )
      .example(EXAMPLES.plan, 'the whole plan as JSON')
      .command(
        'verify <source> <sink>',
        'exit 0 only if every source message is in the sink, byte for byte',
        transferOptions,
        async (a) => {
          const r = await verify(a.source, a.sink, toRequest(a, ac.signal, secrets));
          out(a.json ? JSON.stringify(r, null, 2) : formatVerify(r));
          code = r.exitCode;
        },
      )
      .example(EXAMPLES.verify, 'check a backup against the mailbox')
      .command(
        'ls <endpoint>',
        'folders with message counts and total sizes',
        (y) =>
          y
            .positional('endpoint', { type: 'string', demandOption: true })
            .option('source-password-file', {
              type: 'string',
              describe: "the endpoint's password, first line",
            })
            .option('source-oauth2-command', { type: 'string', describe: 'prints an OAuth2 access token' }),
        async (a) => {
          const stats = await ls(a.endpoint, toRequest(a as unknown as CliArgs, ac.signal, secrets));
          out(a.json ? JSON.stringify(stats, null, 2) : formatLs(stats));
        },
      )
      .example(EXAMPLES.ls, 'list folders')
      .command('status', 'transfers in the state directory', {}, (a) => {
        const entries = status(a['state-dir'] as string | undefined);
        out(a.json ? JSON.stringify(entries, null, 2) : formatStatus(entries));
      })
      .example(EXAMPLES.status, 'see finished and interrupted transfers')
      .command(batchCommands({ signal: ac.signal, secrets, out, err, setCode: (c) => (code = c) }))
      .demandCommand(1, 'name a command: copy, plan, verify, ls, status or batch')
      .epilogue(EXIT_CODES)
      .strict()
      .help()
      .version(version())
      .wrap(Math.min(110, process.stdout.columns || 100))
      .fail((msg, err) => {
        throw err ?? new UsageError(msg.split('\n')[0] ?? msg, { hint: 'see mailferry --help' });
      })
      .middleware((a) => {
        verbose = !!a.verbose;
      })
      .parseAsync();
    return interrupted ? 130 : code;
  } catch (failure) {
    const e = interrupted ? new InterruptedError() : failure;
    err(formatError(contextOf(argv), e));
    if (verbose && failure instanceof Error && failure.stack) err(failure.stack);
    return exitCodeOf(e);
  }
}

function contextOf(argv: string[]): string {
  const cmd = argv.find((a) => !a.startsWith('-'));
  return cmd && ['copy', 'plan', 'verify', 'ls', 'status', 'batch', 'worker', 'dashboard'].includes(cmd)
    ? cmd
    : 'usage';
}

function isMain(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  exitWith(main(hideBin(process.argv)), (line) => process.stderr.write(`${line}\n`));
}

export { main };
