import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

function lint(cwd: string, paths: string[]): { code: number | null; out: string } {
  const r = spawnSync(BIOME, ['lint', '--colors=off', '--max-diagnostics=50', ...paths], {
    cwd,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The project's biome.json in a scratch tree (no git there), with these files. */
function scratch(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mf-layers-'));
  const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8'));
  config.vcs = { enabled: false };
  writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('the layer rule (biome noRestrictedImports, docs/architecture.md)', () => {
  it('fails imports that cross layers, naming the rule and each file', () => {
    const dir = scratch({
      'src/imap/probe.ts': "import { Executor } from '../run/executor.js';\nexport const x = Executor;\n",
      'src/formats/zip/probe.ts':
        "import { openZipSink } from '../../stores/zip/sink.js';\nexport const x = openZipSink;\n",
      'src/util/probe.ts': "import type { Plan } from '../plan/diff.js';\nexport type X = Plan;\n",
      'src/stores/zip/probe.ts': "import { copy } from '../../commands/copy.js';\nexport const x = copy;\n",
      // Allowed: a store on a format and a helper, a protocol on a helper.
      'src/stores/zip/ok.ts':
        "import { a } from '../../formats/zip/writer.js';\nimport { b } from '../../mail/hash.js';\nexport const x = [a, b];\n",
      'src/pop3/ok.ts':
        "import { c } from '../util/net.js';\nimport { d } from '../errors.js';\nexport const x = [c, d];\n",
    });
    const r = lint(dir, ['src']);
    expect(r.code).not.toBe(0);
    const flagged = [...r.out.matchAll(/^(\S+):\d+:\d+ lint\/style\/noRestrictedImports/gm)].map((m) => m[1]);
    expect(flagged.sort()).toEqual([
      'src/formats/zip/probe.ts',
      'src/imap/probe.ts',
      'src/stores/zip/probe.ts',
      'src/util/probe.ts',
    ]);
    expect(r.out).toContain('layers: a store (src/stores) may not import plan, run, commands or cli');
  });

  it('passes on the real tree', () => {
    const r = lint(ROOT, ['src']);
    expect(r.out).not.toContain('noRestrictedImports');
    expect(r.code, r.out).toBe(0);
  });
});
