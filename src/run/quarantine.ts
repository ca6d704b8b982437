import { join } from 'node:path';
import { identityKey } from '../plan/identity.js';
import { sinks } from '../stores/registry.js';
import type { FolderInfo, MessageMeta, Sink, Source } from '../types.js';
import type { Logger } from '../util/log.js';
import type { Sessions } from './sessions.js';

/**
 * Messages the sink refuses as too big are set aside in a zip archive in the state
 * directory, so one oversized message never costs the rest of the run and can be
 * restored later with `mailferry copy zip:<archive> <sink>`.
 */
export class Quarantine {
  readonly path: string;
  private sink: Promise<Sink> | undefined;
  count = 0;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, 'quarantine.zip');
  }

  private open(): Promise<Sink> {
    this.sink ??= (async () => {
      const factory = await sinks.zip!();
      return factory({ endpoint: { kind: 'zip', path: this.path }, log: this.log, largeMessageBytes: 0 });
    })();
    return this.sink;
  }

  /** Copies one message into the archive unless an earlier run already set it aside. */
  async add(source: Source, folder: FolderInfo, meta: MessageMeta): Promise<void> {
    const sink = await this.open();
    await sink.ensureFolder({ name: folder.name, delimiter: folder.delimiter });
    const held = await sink.inventory(folder.name);
    const key = identityKey(meta);
    if (held?.messages.some((m) => identityKey(m) === key)) return;
    const body = await source.open(folder, meta);
    const input = { folder: folder.name, meta, flags: meta.flags, body };
    await sink.append(meta.internalDate ? { ...input, internalDate: meta.internalDate } : input);
    this.count++;
  }

  async close(): Promise<void> {
    if (this.sink) await (await this.sink).close();
  }
}

/**
 * Sets a message the sink refused as too big aside in the quarantine, on a source session
 * of the run's pool. Returns the archive's path, or undefined when it could not be set aside.
 */
export async function setAside(
  q: Quarantine,
  sessions: Sessions,
  folder: FolderInfo,
  meta: MessageMeta,
  log: Logger,
): Promise<string | undefined> {
  try {
    await sessions.withSource((source) => q.add(source, folder, meta));
    log.warn(`${folder.name} message ${meta.id} set aside in ${q.path}`);
    return q.path;
  } catch (err) {
    log.warn(
      `${folder.name} message ${meta.id} could not be set aside: ${err instanceof Error ? err.message : String(err)}`,
    );
    return undefined;
  }
}
