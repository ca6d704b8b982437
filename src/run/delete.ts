import type { Plan } from '../plan/diff.js';
import { identityKey, KeyBag } from '../plan/identity.js';
import type { MessageMeta, Sink, Source } from '../types.js';
import type { Logger } from '../util/log.js';
import type { Checkpoint } from './checkpoint.js';

export interface DeleteResult {
  deleted: number;
  /** Copies that could not be confirmed at the sink, so their originals stay. */
  kept: number;
}

/**
 * --delete-source: only after the copy phase, in a fresh source session, and only for
 * messages whose copy a fresh look at the sink confirms (same identity, size included).
 */
export async function deleteCopied(
  plan: Plan,
  openSource: () => Promise<Source>,
  openSink: () => Promise<Sink>,
  checkpoint: Checkpoint,
  log: Logger,
): Promise<DeleteResult> {
  const out: DeleteResult = { deleted: 0, kept: 0 };
  const sink = await openSink();
  const confirmed = new Map<string, MessageMeta[]>();
  try {
    for (const fp of plan.folders) {
      if (fp.unchanged) continue;
      const name = fp.source.name;
      const keys = new Map<string, string>();
      for (const p of fp.present) keys.set(p.id, p.key);
      for (const [id, k] of checkpoint.state.knownIn(name)) keys.set(id, k.key);
      const gone = checkpoint.state.deleted.get(name);
      const inv = await sink.inventory(fp.target.name);
      const bag = KeyBag.of((inv?.messages ?? []).map(identityKey));
      const ids = [...fp.present.map((p) => p.id), ...fp.copy.map((c) => c.id)];
      const list: MessageMeta[] = [];
      for (const id of ids) {
        const key = keys.get(id);
        if (gone?.has(id)) continue;
        if (key && bag.take(key)) list.push({ id, size: 0, flags: [] });
        else out.kept++;
      }
      if (list.length) confirmed.set(name, list);
    }
  } finally {
    await sink.close();
  }
  if (!confirmed.size) return out;
  const source = await openSource();
  try {
    for (const fp of plan.folders) {
      const list = confirmed.get(fp.source.name);
      if (!list || !source.delete) continue;
      await source.delete(fp.source, list);
      checkpoint.append({ t: 'deleted', f: fp.source.name, ids: list.map((m) => m.id) }, true);
      out.deleted += list.length;
      log.info(
        `${fp.source.name}: deleted ${list.length} message(s) at the source after confirming their copies`,
      );
    }
  } finally {
    await source.close();
  }
  return out;
}
