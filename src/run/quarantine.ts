import { join } from 'node:path';
import { identityKey } from '../plan/identity.js';
import { sinks } from '../stores/registry.js';
import type { FolderInfo, MessageMeta, Sink, Source } from '../types.js';
import type { Logger } from '../util/log.js';

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
