import type { TransferOptions } from '../config.js';
import { PRESETS } from '../providers.js';
import type { FolderPlan } from './diff.js';

/**
 * A message larger than the provider takes at all is never uploaded: it is listed as skipped
 * (the report names each, exit 1) instead of sent and refused, which costs the bandwidth and,
 * at Microsoft 365, the connection after repeated errors.
 */
export function skipOverProviderLimit(folders: FolderPlan[], options: TransferOptions): void {
  const preset = options.provider ? PRESETS[options.provider] : undefined;
  const max = preset?.maxMessageBytes;
  if (!preset || max === undefined) return;
  for (const f of folders) {
    const over = f.copy.filter((m) => m.size > max);
    if (!over.length) continue;
    f.copy = f.copy.filter((m) => m.size <= max);
    for (const m of over) {
      f.skipped.push({
        id: m.id,
        reason: `${m.size} bytes is over ${preset.label}'s ${max / 1024 / 1024} MB message limit; not uploaded`,
      });
    }
  }
}
