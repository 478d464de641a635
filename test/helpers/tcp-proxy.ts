/**
 * A TCP proxy in front of a real server, for tests of a connection that is
 * lost (`down`: every socket closed, nothing listens) or that stops
 * answering (`blackhole`: bytes are accepted and dropped), then comes back.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Close every connection and stop listening. */
  down(): Promise<void>;
  /** Listen again on the same port, forwarding. */
  up(): Promise<void>;
  /** Keep connections open but forward nothing either way. */
  blackhole(): void;
  close(): Promise<void>;
}

export async function tcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let forwarding = true;
  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    forwarding = true;
    const s = createServer((client) => {
      const upstream = createConnection({ host: targetHost, port: targetPort });
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => {});
      }
      client.on('data', (d) => {
        if (forwarding) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (forwarding) client.write(d);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    down,
    up: listen,
    blackhole() {
      forwarding = false;
    },
    close: down,
  };
}
