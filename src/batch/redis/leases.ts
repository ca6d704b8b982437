import { randomBytes } from 'node:crypto';
import type { HostNeeds } from '../hosts.js';
import type { MiniRedis } from './client.js';

const PREFIX = 'mailferry:lease';

// KEYS[1]: the pair's lock; KEYS[2..]: one sorted set per server (member = lease slot,
// score = expiry). ARGV: now, expiry, cap, lease id, ttl ms, then one weight per server.
// All or nothing, so a pair never holds one server while waiting for the other.
const ACQUIRE = `
local now, exp, cap, me, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= me then return 0 end
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local mine = 0
  for j = 1, tonumber(ARGV[4 + i]) do
    if redis.call('ZSCORE', KEYS[i], me .. '#' .. j) then mine = mine + 1 end
  end
  if redis.call('ZCARD', KEYS[i]) - mine + tonumber(ARGV[4 + i]) > cap then return 0 end
end
redis.call('SET', KEYS[1], me, 'PX', ttl)
for i = 2, #KEYS do
  for j = 1, tonumber(ARGV[4 + i]) do redis.call('ZADD', KEYS[i], exp, me .. '#' .. j) end
  redis.call('PEXPIRE', KEYS[i], ttl * 4)
end
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
for i = 2, #KEYS do
  for j = 1, tonumber(ARGV[i]) do redis.call('ZREM', KEYS[i], ARGV[1] .. '#' .. j) end
end
return 1`;

/**
 * The per-host cap across every worker, and one runner per pair: leases in Redis that
 * expire unless renewed, so a worker killed with -9 frees its slots after `ttlMs`.
 * Renewing re-creates them, so they come back after a Redis restart.
 */
export class HostLeases {
  constructor(
    private readonly redis: MiniRedis,
    private readonly ttlMs: number,
  ) {}

  private keys(pair: string, needs: HostNeeds): string[] {
    return [`${PREFIX}:pair:${pair}`, ...[...needs.keys()].map((h) => `${PREFIX}:host:${h}`)];
  }

  /** Takes the pair's lock and its slots on every server, or nothing; returns a lease id or undefined. */
  async acquire(pair: string, needs: HostNeeds, cap: number, lease = randomBytes(6).toString('hex')) {
    const now = Date.now();
    const ok = await this.redis.call(
      'EVAL',
      ACQUIRE,
      1 + needs.size,
      ...this.keys(pair, needs),
      now,
      now + this.ttlMs,
      cap,
      lease,
      this.ttlMs,
      ...needs.values(),
    );
    return ok === 1 ? lease : undefined;
  }

  /** Keeps a lease alive; called every ttl/3 while the pair runs. */
  async renew(pair: string, needs: HostNeeds, cap: number, lease: string): Promise<boolean> {
    return (await this.acquire(pair, needs, cap, lease)) !== undefined;
  }

  async release(pair: string, needs: HostNeeds, lease: string): Promise<void> {
    await this.redis.call(
      'EVAL',
      RELEASE,
      1 + needs.size,
      ...this.keys(pair, needs),
      lease,
      ...needs.values(),
    );
  }
}
