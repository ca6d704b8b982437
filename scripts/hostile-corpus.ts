/**
 * Writes the hostile corpus (test/corpus/hostile.ts) to a directory as .eml files, one per
 * message, plus index.tsv (file, size, what makes it hostile) and folders.tsv.
 *
 *   npx tsx scripts/hostile-corpus.ts DIR [--big-bytes N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostileFolderNames, hostileMessages } from '../test/corpus/hostile.js';

function main(args: string[]): void {
  const dir = args.find((a) => !a.startsWith('--'));
  const big = args.indexOf('--big-bytes');
  if (!dir) {
    process.stderr.write('usage: tsx scripts/hostile-corpus.ts DIR [--big-bytes N]\n');
    process.exit(2);
  }
  const bigBytes = big >= 0 ? Number(args[big + 1]) : undefined;
  mkdirSync(dir, { recursive: true });
  const index: string[] = [];
  hostileMessages(bigBytes ? { bigBytes } : {}).forEach((m, i) => {
    const file = `${String(i + 1).padStart(2, '0')}-${m.name}.eml`;
    writeFileSync(join(dir, file), m.raw);
    index.push(`${file}\t${m.raw.length}\t${m.why}`);
  });
  writeFileSync(join(dir, 'index.tsv'), `${index.join('\n')}\n`);
  const folders = hostileFolderNames().map((f) => `${f.name}\t${f.why}`);
  writeFileSync(join(dir, 'folders.tsv'), `${folders.join('\n')}\n`);
  process.stdout.write(`wrote ${index.length} messages to ${dir}\n`);
}

main(process.argv.slice(2));
