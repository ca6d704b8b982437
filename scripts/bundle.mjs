/**
 * Bundles the CLI into one file, dist/mailferry.mjs, the `mailferry` users run. Loading one
 * file instead of some 300 modules takes a third less start-up, which is most of a re-run
 * with nothing new. Three imapflow dependencies mailferry never reaches are left out:
 * pino (we pass `logger: false`), socks (no proxy option) and encoding-japanese (only used
 * to decode text parts; mailferry copies raw bytes). Each is replaced by a stub that throws.
 *
 * The shebang keeps memory down at little cost in speed: V8's default young generation holds
 * up to 3 x 16 MB of garbage between scavenges, and its old generation grows in big steps;
 * with these flags a 2,000-message IMAP->IMAP run peaks at about 90 MB instead of 125.
 * (--optimize-for-size saves as much but was 15-20% slower here.)
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

export const NODE_FLAGS = ['--max-semi-space-size=1', '--heap-growing-percent=40'];
/** One malloc arena: Node's threads would otherwise each keep their own, mostly empty. */
export const NODE_ENV = ['MALLOC_ARENA_MAX=1'];

const LEFT_OUT = ['pino', 'socks', 'encoding-japanese'];

const stubs = {
  name: 'left-out',
  setup(b) {
    const filter = new RegExp(`^(${LEFT_OUT.join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'left-out' }));
    b.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `const fail = () => { throw new Error('${args.path} is left out of the mailferry bundle'); };
export default new Proxy(fail, { get: () => fail });
export const SocksClient = new Proxy(fail, { get: () => fail });`,
      loader: 'js',
    }));
  },
};

const out = 'dist/mailferry.mjs';
await build({
  entryPoints: ['dist/cli/main.js'],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // ASCII only, comments dropped (they carry some non-ASCII): one such character makes V8 keep
  // the whole source as UTF-16, 3.7 MB instead of 1.4. Names stay, so --verbose traces read.
  charset: 'ascii',
  minifyWhitespace: true,
  plugins: [stubs],
  // yargs would look for a package.json beside the running file; an installed bundle has none there.
  define: { __MAILFERRY_VERSION__: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  // CommonJS dependencies call require(); ESM output has none of its own.
  banner: {
    js: `import { createRequire as __mfRequire } from 'node:module';\nconst require = __mfRequire(import.meta.url);`,
  },
});
// esbuild keeps the entry's `#!/usr/bin/env node`; this one carries the flags.
const code = readFileSync(out, 'utf8').replace(/^#![^\n]*\n/, '');
writeFileSync(out, `#!/usr/bin/env -S ${[...NODE_ENV, 'node', ...NODE_FLAGS].join(' ')}\n${code}`);
chmodSync(out, 0o755);
