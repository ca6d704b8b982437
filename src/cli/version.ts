import { readFileSync } from 'node:fs';

/** Set by scripts/bundle.mjs from package.json: the bundle runs far from any package.json. */
declare const __MAILFERRY_VERSION__: string | undefined;

/** The package version; from source (tsx) or dist/cli, package.json two levels up. */
export function version(): string {
  if (typeof __MAILFERRY_VERSION__ === 'string') return __MAILFERRY_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
