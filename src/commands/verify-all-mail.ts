import type { TransferOptions } from '../config.js';
import { residualTarget, splitAllMail } from '../plan/all-mail.js';
import type { FolderMapping } from '../plan/folders.js';
import type { FolderInfo, FolderNamespace, MessageMeta, Source } from '../types.js';

/**
 * All Mail's residual (the archived mail copy put in the sink's archive), for verify to
 * compare like a folder: without it verify would pass a copy that lost the archived mail.
 */
export async function verifyResidual(
  source: Source,
  sinkFolders: FolderInfo[],
  mappings: FolderMapping[],
  options: TransferOptions,
  sinkNs: FolderNamespace,
): Promise<{ target: FolderMapping; messages: MessageMeta[] } | undefined> {
  const split = splitAllMail(await source.listFolders(), mappings, options, source.namespace);
  const ctx = {
    sinkFolders,
    sinkNs,
    seen: new Map<string, MessageMeta[]>(),
    ...(source.namespace && { sourceNs: source.namespace }),
  };
  return residualTarget(source, split, ctx, options);
}
