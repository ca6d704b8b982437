import net from 'node:net';

/**
 * A plain TCP relay in front of one rig server that counts the connections the server sees
 * from us: the number open right now and the most ever open at once (exact, not sampled).
 */
export class CountingProxy {
  open = 0;
  peak = 0;
  total = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CountingProxy> {
    let self: CountingProxy | undefined;
    const server = net.createServer((client) => self?.relay(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    self = new CountingProxy(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  private relay(client: net.Socket, targetPort: number): void {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    this.open++;
    this.total++;
    this.peak = Math.max(this.peak, this.open);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      this.open--;
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', done);
      s.on('close', done);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  resetPeak(): void {
    this.peak = this.open;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
