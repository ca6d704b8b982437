import type { FolderPlan, PlanItem } from '../plan/diff.js';
import type { Logger } from '../util/log.js';
import type { CheckpointState } from './checkpoint.js';
import type { Sessions } from './sessions.js';
import { toMeta } from './transfer.js';

/**
 * Settles appends whose answer was lost. The journal's `intent` lines name the messages an
 * earlier run sent without hearing back (intent, no done); this run sends those last and
 * first asks the sink whether the dead session stored them anyway. The copies this run made
 * are counted too, so a retry after a lost answer in this run is settled the same way.
 */
export class Settler {
  /** Messages earlier runs sent without an answer, per source folder. */
  private readonly unsettled: ReadonlyMap<string, ReadonlySet<string>>;
  /** Copies this run made per (target folder, identity). */
  private readonly doneKeys = new Map<string, number>();

  constructor(
    state: CheckpointState,
    private readonly sessions: Sessions,
    private readonly log: Logger,
  ) {
    this.unsettled = new Map([...state.inFlight].map(([f, ids]) => [f, new Set(ids)]));
  }

  /** Whether an earlier run sent this message and stopped before the answer came. */
  wasInFlight(folder: string, id: string): boolean {
    return this.unsettled.get(folder)?.has(id) ?? false;
  }

  /** One more copy of `key` in `target`, made by this run. */
  copied(target: string, key: string): void {
    const k = `${target}\n${key}`;
    this.doneKeys.set(k, (this.doneKeys.get(k) ?? 0) + 1);
  }

  /**
   * Set when the sink holds more copies of this message than the plan found plus this run
   * added: the lost APPEND was stored, so it is journaled instead of sent twice.
   */
  async landedAnyway(fp: FolderPlan, item: PlanItem): Promise<{ key: string; sinkId?: string } | undefined> {
    const key = item.key;
    if (!key) return undefined;
    const ids = await this.sessions.withSink(async (sink) =>
      sink.find ? sink.find(fp.target.name, toMeta(item)) : undefined,
    );
    if (!ids) return undefined;
    const expected =
      fp.present.filter((p) => p.key === key).length + (this.doneKeys.get(`${fp.target.name}\n${key}`) ?? 0);
    if (ids.length <= expected) return undefined;
    this.log.info(`${fp.source.name} message ${item.id}: its APPEND was stored though the answer was lost`);
    const sinkId = ids[ids.length - 1];
    return sinkId === undefined ? { key } : { key, sinkId };
  }
}
