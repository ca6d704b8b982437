import { isServer, parseEndpoint } from '../endpoint.js';
import { UsageError } from '../errors.js';
import type { BatchAccount } from './accounts.js';

/** Connections a pair may hold on each server (host:port), its --connections on each side. */
export type HostNeeds = Map<string, number>;

export function hostKey(endpointText: string): string | undefined {
  const e = parseEndpoint(endpointText);
  return isServer(e) ? `${e.host.toLowerCase()}:${e.port}` : undefined;
}

/**
 * A pair whose two sides share a server counts twice there. When its connections would not
 * fit under the cap, they are lowered until they do (a pair never waits for the impossible).
 */
export function pairNeeds(
  a: BatchAccount,
  connections: number,
  perHost: number,
): {
  needs: HostNeeds;
  connections: number;
} {
  const keys = [hostKey(a.source), hostKey(a.sink)].filter((k): k is string => k !== undefined);
  const sides = new Map<string, number>();
  for (const k of keys) sides.set(k, (sides.get(k) ?? 0) + 1);
  const most = Math.max(1, ...sides.values());
  const c = Math.min(connections, Math.floor(perHost / most));
  if (c < 1)
    throw new UsageError(
      `line ${a.line}: source and sink are the same server, --per-host ${perHost} is below 2`,
      {
        hint: 'give --per-host 2 or more',
      },
    );
  return { needs: new Map([...sides].map(([k, n]) => [k, n * c])), connections: c };
}

/**
 * In-process semaphore per server: a pair takes all its slots at once or none, so no pair
 * holds one host while waiting for the other, and two pairs never deadlock.
 */
export class HostLimiter {
  private readonly used = new Map<string, number>();
  /** Highest count seen per host, for the report and the tests. */
  readonly peak = new Map<string, number>();

  constructor(readonly perHost: number) {}

  tryAcquire(needs: HostNeeds): boolean {
    if (![...needs].every(([k, n]) => (this.used.get(k) ?? 0) + n <= this.perHost)) return false;
    for (const [k, n] of needs) {
      const now = (this.used.get(k) ?? 0) + n;
      this.used.set(k, now);
      this.peak.set(k, Math.max(this.peak.get(k) ?? 0, now));
    }
    return true;
  }

  release(needs: HostNeeds): void {
    for (const [k, n] of needs) this.used.set(k, (this.used.get(k) ?? 0) - n);
  }
}
