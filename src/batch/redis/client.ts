import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { type RedisAddress, type RespArg, RespConnection, type RespValue } from './resp.js';

/**
 * BullMQ's Redis client interface (IRedisClient) over our own small RESP connection:
 * npm's Redis drivers (ioredis, node-redis) are not among mailferry's dependencies, and
 * BullMQ takes any client of this shape. Results follow ioredis' shapes, as BullMQ expects.
 */
interface Script {
  sha: string;
  lua: string;
  keys: number;
}

type Args = Array<RespArg | undefined | null>;

function scriptArgs(args: unknown[]): Args {
  return (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as Args;
}

function clean(a: Args): RespArg[] {
  return a.map((v) => (v === undefined || v === null ? '' : Buffer.isBuffer(v) ? v : String(v)));
}

function toObject(v: RespValue): Record<string, string> {
  const out: Record<string, string> = {};
  const a = (v as string[]) ?? [];
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]!] = a[i + 1]!;
  return out;
}

function flatHash(data: Record<string, string | number>): RespArg[] {
  return Object.entries(data).flatMap(([k, v]) => [k, Buffer.isBuffer(v) ? v : String(v)]);
}

export class MiniRedis extends EventEmitter {
  readonly isCluster = false;
  readonly __mailferry = true;
  options: Record<string, unknown> = { maxRetriesPerRequest: null };
  private readonly conn: RespConnection;
  readonly scripts = new Map<string, Script>();

  constructor(readonly address: RedisAddress) {
    super();
    this.conn = new RespConnection(address);
    this.conn.onHandshake = (raw) => this.loadScripts(raw);
    for (const ev of ['ready', 'close', 'end', 'reconnecting', 'error'])
      this.conn.on(ev, (...a: unknown[]) => {
        if (ev !== 'error' || this.listenerCount('error')) this.emit(ev, ...a);
      });
    // Like ioredis: connecting starts at once.
    this.conn.connect().catch(() => undefined);
  }

  get status(): string {
    return this.conn.status === 'reconnecting' || this.conn.status === 'connecting'
      ? 'connecting'
      : this.conn.status;
  }

  set status(v: string) {
    if (v === 'end') this.conn.end();
  }

  /** Scripts are gone after a Redis restart: every connect loads them again. */
  private async loadScripts(raw: (args: RespArg[]) => Promise<RespValue>): Promise<void> {
    for (const s of this.scripts.values()) await raw(['SCRIPT', 'LOAD', s.lua]).catch(() => undefined);
  }

  call(...args: RespArg[]): Promise<RespValue> {
    return this.conn.send(args);
  }

  connect(): Promise<void> {
    return this.conn.connect();
  }

  disconnect(): void {
    this.conn.end();
  }

  async quit(): Promise<string> {
    if (this.conn.status === 'ready') await this.call('QUIT').catch(() => undefined);
    this.conn.end();
    return 'OK';
  }

  duplicate(..._args: unknown[]): MiniRedis {
    const d = new MiniRedis(this.address);
    for (const [name, s] of this.scripts) d.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
    return d;
  }

  defineCommand(name: string, def: { numberOfKeys: number; lua: string }): void {
    const sha = createHash('sha1').update(def.lua).digest('hex');
    this.scripts.set(name, { sha, lua: def.lua, keys: def.numberOfKeys });
    (this as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => this.runCommand(name, a);
    if (this.conn.status === 'ready') this.call('SCRIPT', 'LOAD', def.lua).catch(() => undefined);
  }

  async runCommand(name: string, args: unknown[]): Promise<unknown> {
    const s = this.scripts.get(name);
    if (!s) throw new Error(`BullMQ: unknown command "${name}"`);
    const a = clean(scriptArgs(args));
    try {
      return await this.call('EVALSHA', s.sha, s.keys, ...a);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return this.call('EVAL', s.lua, s.keys, ...a);
    }
  }

  multi(): Transaction {
    return new Transaction(this, true);
  }

  pipeline(): Transaction {
    return new Transaction(this, false);
  }

  async hgetall(key: string) {
    return toObject(await this.call('HGETALL', key));
  }
  hget(key: string, field: string) {
    return this.call('HGET', key, field) as Promise<string | null>;
  }
  hmget(key: string, ...fields: string[]) {
    return this.call('HMGET', key, ...fields) as Promise<(string | null)[]>;
  }
  hset(key: string, data: Record<string, string | number>) {
    return this.call('HSET', key, ...flatHash(data)) as Promise<number>;
  }
  hdel(key: string, ...fields: string[]) {
    return this.call('HDEL', key, ...fields) as Promise<number>;
  }
  hexists(key: string, field: string) {
    return this.call('HEXISTS', key, field) as Promise<number>;
  }
  get(key: string) {
    return this.call('GET', key) as Promise<string | null>;
  }
  set(key: string, value: string | number, o?: { PX?: number; EX?: number }) {
    const extra: RespArg[] = o?.PX ? ['PX', o.PX] : o?.EX ? ['EX', o.EX] : [];
    return this.call('SET', key, value, ...extra) as Promise<string | null>;
  }
  del(...keys: string[]) {
    return keys.length ? (this.call('DEL', ...keys) as Promise<number>) : Promise.resolve(0);
  }
  zrange(key: string, start: number, end: number, o?: { WITHSCORES?: boolean }) {
    return this.call('ZRANGE', key, start, end, ...(o?.WITHSCORES ? ['WITHSCORES'] : [])) as Promise<
      string[]
    >;
  }
  zrevrange(key: string, start: number, end: number, o?: { WITHSCORES?: boolean }) {
    return this.call('ZREVRANGE', key, start, end, ...(o?.WITHSCORES ? ['WITHSCORES'] : [])) as Promise<
      string[]
    >;
  }
  zcard(key: string) {
    return this.call('ZCARD', key) as Promise<number>;
  }
  zscore(key: string, member: string) {
    return this.call('ZSCORE', key, member) as Promise<string | null>;
  }
  zadd(key: string, ...args: RespArg[]) {
    return this.call('ZADD', key, ...args) as Promise<number>;
  }
  zrem(key: string, ...members: string[]) {
    return this.call('ZREM', key, ...members) as Promise<number>;
  }
  lrange(key: string, start: number, end: number) {
    return this.call('LRANGE', key, start, end) as Promise<string[]>;
  }
  llen(key: string) {
    return this.call('LLEN', key) as Promise<number>;
  }
  ltrim(key: string, start: number, end: number) {
    return this.call('LTRIM', key, start, end) as Promise<string>;
  }
  lpos(key: string, value: string) {
    return this.call('LPOS', key, value) as Promise<number | null>;
  }
  lpush(key: string, ...values: string[]) {
    return this.call('LPUSH', key, ...values) as Promise<number>;
  }
  rpop(key: string) {
    return this.call('RPOP', key) as Promise<string | null>;
  }
  smembers(key: string) {
    return this.call('SMEMBERS', key) as Promise<string[]>;
  }
  sadd(key: string, ...members: string[]) {
    return this.call('SADD', key, ...members) as Promise<number>;
  }
  scard(key: string) {
    return this.call('SCARD', key) as Promise<number>;
  }
  keys(pattern: string) {
    return this.call('KEYS', pattern) as Promise<string[]>;
  }
  exists(...keys: string[]) {
    return this.call('EXISTS', ...keys) as Promise<number>;
  }
  incr(key: string) {
    return this.call('INCR', key) as Promise<number>;
  }
  incrby(key: string, n: number) {
    return this.call('INCRBY', key, n) as Promise<number>;
  }
  xadd(
    key: string,
    id: string,
    fields: Record<string, string | number>,
    o?: { MAXLEN?: number; approximate?: boolean },
  ) {
    const trim: RespArg[] =
      o?.MAXLEN != null ? ['MAXLEN', ...(o.approximate === false ? [] : ['~']), o.MAXLEN] : [];
    return this.call('XADD', key, ...trim, id, ...flatHash(fields)) as Promise<string>;
  }
  xread(streams: { key: string; id: string }[], o?: { BLOCK?: number; COUNT?: number }) {
    const opts: RespArg[] = [];
    if (o?.COUNT != null) opts.push('COUNT', o.COUNT);
    if (o?.BLOCK != null) opts.push('BLOCK', o.BLOCK);
    return this.call('XREAD', ...opts, 'STREAMS', ...streams.map((s) => s.key), ...streams.map((s) => s.id));
  }
  xtrim(key: string, strategy: 'MAXLEN', threshold: number, o?: { approximate?: boolean }) {
    return this.call(
      'XTRIM',
      key,
      strategy,
      ...(o?.approximate === false ? [] : ['~']),
      threshold,
    ) as Promise<number>;
  }
  xlen(key: string) {
    return this.call('XLEN', key) as Promise<number>;
  }
  xrevrange(key: string, end: string, start: string, ...rest: RespArg[]) {
    return this.call('XREVRANGE', key, end, start, ...rest);
  }
  bzpopmin(key: string, timeout: number) {
    return this.call('BZPOPMIN', key, timeout) as Promise<[string, string, string] | null>;
  }
  info() {
    return this.call('INFO') as Promise<string>;
  }
  clientSetName(name: string) {
    return this.call('CLIENT', 'SETNAME', name);
  }
  clientList() {
    return this.call('CLIENT', 'LIST') as Promise<string>;
  }
  clientInfo() {
    return this.call('CLIENT', 'INFO') as Promise<string>;
  }
  flushall() {
    return this.call('FLUSHALL');
  }
  async scan(cursor: string | number, o: { MATCH?: string; COUNT?: number }) {
    const extra: RespArg[] = [];
    if (o?.MATCH) extra.push('MATCH', o.MATCH);
    if (o?.COUNT) extra.push('COUNT', o.COUNT);
    const [next, keys] = (await this.call('SCAN', cursor, ...extra)) as [string, string[]];
    return [String(next), keys] as [string, string[]];
  }
  scanStream(o: { match: string; count?: number }): Readable {
    let cursor = '0';
    let started = false;
    const stream: Readable = new Readable({
      objectMode: true,
      read: () => {
        if (started && cursor === '0') {
          stream.push(null);
          return;
        }
        started = true;
        this.scan(cursor, { MATCH: o.match, COUNT: o.count ?? 100 }).then(
          ([next, keys]) => {
            cursor = next;
            stream.push(keys);
          },
          (err) => stream.destroy(err as Error),
        );
      },
    });
    return stream;
  }
}

/** MULTI/EXEC (or a plain pipeline): queued in one tick, so nothing else interleaves. */
class Transaction {
  private readonly cmds: RespArg[][] = [];
  private readonly shapes: Array<(v: RespValue) => unknown> = [];

  constructor(
    private readonly c: MiniRedis,
    private readonly atomic: boolean,
  ) {}

  private add(args: RespArg[], shape: (v: RespValue) => unknown = (v) => v): this {
    this.cmds.push(args);
    this.shapes.push(shape);
    return this;
  }
  hgetall(key: string) {
    return this.add(['HGETALL', key], toObject);
  }
  hset(key: string, data: Record<string, string | number>) {
    return this.add(['HSET', key, ...flatHash(data)]);
  }
  hscan(key: string, cursor: string | number, o?: { COUNT?: number }) {
    return this.add(['HSCAN', key, cursor, ...(o?.COUNT ? ['COUNT', o.COUNT] : [])]);
  }
  smembers(key: string) {
    return this.add(['SMEMBERS', key]);
  }
  sscan(key: string, cursor: string | number, o?: { COUNT?: number }) {
    return this.add(['SSCAN', key, cursor, ...(o?.COUNT ? ['COUNT', o.COUNT] : [])]);
  }
  zrange(key: string, start: number, end: number) {
    return this.add(['ZRANGE', key, start, end]);
  }
  lrange(key: string, start: number, end: number) {
    return this.add(['LRANGE', key, start, end]);
  }
  llen(key: string) {
    return this.add(['LLEN', key]);
  }
  del(...keys: string[]) {
    return keys.length ? this.add(['DEL', ...keys]) : this;
  }
  runCommand(name: string, args: unknown[]) {
    const s = this.c.scripts.get(name);
    if (!s) throw new Error(`BullMQ: unknown command "${name}" in transaction`);
    // EVAL, not EVALSHA: a NOSCRIPT inside MULTI could not be retried.
    return this.add(['EVAL', s.lua, s.keys, ...clean(scriptArgs(args))]);
  }

  async exec(): Promise<[Error | null, unknown][] | null> {
    if (!this.cmds.length) return [];
    if (!this.atomic) {
      const settled = await Promise.allSettled(this.cmds.map((a) => this.c.call(...a)));
      return settled.map((r, i) =>
        r.status === 'fulfilled' ? [null, this.shapes[i]!(r.value)] : [r.reason as Error, null],
      );
    }
    const queued = [this.c.call('MULTI'), ...this.cmds.map((a) => this.c.call(...a))];
    const done = this.c.call('EXEC');
    // A command refused at queue time aborts the EXEC; its error is what to report.
    const early = await Promise.allSettled(queued);
    const results = (await done) as RespValue[] | null;
    if (!results) return null;
    return results.map((v, i) => {
      const refused = early[i + 1];
      if (refused?.status === 'rejected') return [refused.reason as Error, null];
      return v instanceof Error ? [v, null] : [null, this.shapes[i]!(v)];
    });
  }
}
