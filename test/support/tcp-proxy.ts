import net from 'node:net';

/**
 * A TCP proxy on loopback in front of a real server (Redis), which a test can cut (every
 * connection reset, new ones refused), stall (connections held, nothing forwarded either way:
 * a hung server, as under SIGSTOP) and restore, on the same port.
 */
export interface TcpProxy {
  readonly port: number;
  url(scheme: string): string;
  cut(): Promise<void>;
  stall(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let stalled = false;
  let server: net.Server | undefined;
  let port = 0;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (stalled) socket.pause();
  };
  const listen = async () => {
    const listening = net.createServer((client) => {
      track(client);
      const upstream = net.connect(target.port, target.host);
      track(upstream);
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(port, '127.0.0.1', resolve));
    port = (listening.address() as net.AddressInfo).port;
  };
  const cut = async () => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    cut,
    stall: () => {
      stalled = true;
      for (const socket of sockets) socket.pause();
    },
    restore: async () => {
      stalled = false;
      for (const socket of sockets) socket.resume();
      if (!server) await listen();
    },
    close: cut,
  };
}
