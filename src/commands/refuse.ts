import type { TransferOptions } from '../config.js';
import { UsageError } from '../errors.js';
import type { Sink, Source } from '../types.js';

/**
 * Options a store cannot honour, in one place. Each rule reads a capability (a declared one,
 * or a method the store implements) and refuses the option before anything is written:
 * an option that would silently do nothing is a surprise found after the run.
 */
type Given = Partial<TransferOptions>;

interface Rule<Side> {
  /** The option as the user wrote it. */
  option: string;
  given: (o: Given) => boolean;
  /** Why this side cannot honour it, or undefined when it can. */
  why: (side: Side) => string | undefined;
  hint: string;
}

const nonEmpty = (v: string[] | undefined) => !!v?.length;

const SOURCE_RULES: Array<Rule<Source>> = [
  {
    option: '--delete-source',
    given: (o) => !!o.deleteSource,
    why: (s) => (canDelete(s) ? undefined : 'it cannot delete messages'),
    hint: 'leave out --delete-source, and delete at the source yourself once verify exits 0',
  },
  {
    option: '--unread',
    given: (o) => !!o.unread,
    why: (s) => (s.capabilities.keepsFlags ? 'its own flags (\\Seen or not) are copied' : undefined),
    hint: '--unread is for sources without flags (POP3); leave it out',
  },
  ...(['include', 'exclude', 'map'] as const).map(
    (k): Rule<Source> => ({
      option: `--${k}`,
      given: (o) => nonEmpty(o[k]),
      why: (s) => (s.capabilities.hasFolders ? undefined : 'it has no folders'),
      hint: 'name the one target folder with --folder',
    }),
  ),
  {
    option: '--include-all-mail',
    given: (o) => !!o.includeAllMail,
    why: (s) => (s.capabilities.hasFolders ? undefined : 'it has no folders'),
    hint: 'leave it out',
  },
  {
    option: '--folder',
    given: (o) => o.folder !== undefined,
    why: (s) => (s.capabilities.hasFolders ? 'its own folders are copied' : undefined),
    hint: '--folder names the target for a source without folders (POP3); rename folders with --map',
  },
];

/** Flags the sink is asked to set that it could not keep. */
const SINK_RULES: Array<Rule<Sink>> = [
  {
    option: '--unread',
    given: (o) => !!o.unread,
    why: (s) => (s.capabilities.keepsFlags ? undefined : 'it keeps no flags'),
    hint: 'leave it out',
  },
];

/** Messages can be deleted after a verified copy: the source implements delete(). */
export function canDelete(source: Source): boolean {
  return typeof source.delete === 'function';
}

/** Throws exit 2 with one line for the first option `source` cannot honour. */
export function refuseForSource(given: Given, source: Source, name: string): void {
  refuse(SOURCE_RULES, given, source, `the source ${name}`);
}

export function refuseForSink(given: Given, sink: Sink, name: string): void {
  refuse(SINK_RULES, given, sink, `the sink ${name}`);
}

function refuse<Side>(rules: Array<Rule<Side>>, given: Given, side: Side, what: string): void {
  for (const r of rules) {
    if (!r.given(given)) continue;
    const why = r.why(side);
    if (why) throw new UsageError(`${r.option} cannot be honoured by ${what}: ${why}`, { hint: r.hint });
  }
}
