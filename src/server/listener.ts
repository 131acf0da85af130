import net from 'node:net';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

const TLS_HANDSHAKE = 0x16;
const FIRST_BYTE_TIMEOUT_MS = 10_000;
/** A TLS handshake must finish in this time (Node's default is two minutes). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = Number(process.env['TRENT_HEADERS_TIMEOUT_SECONDS'] ?? 60) * 1000;
/** How often Node checks for requests whose headers or body came too slowly (headersTimeout, requestTimeout). */
const TIMEOUT_CHECK_MS = Math.min(5_000, HEADERS_TIMEOUT_MS);
const REFUSAL_TEXT = 'Trent serves HTTPS only. Use https:// and trust the CA Trent printed.\n';
const PLAIN_HTTP_REFUSAL = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(REFUSAL_TEXT)}\r\n\r\n${REFUSAL_TEXT}`;

export interface ListenerOptions {
  host: string;
  port: number;
  /**
   * One of several processes serving the port: each binds its own socket with SO_REUSEPORT and the kernel spreads
   * new connections over them. A process that dies takes only its own socket with it (its queued connections are
   * reset, never left hanging), and the others keep accepting.
   */
  reusePort?: boolean;
  key: Buffer;
  cert: Buffer;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  log: Logger;
}

/**
 * One HTTPS endpoint. Each connection's first byte is read: a TLS handshake goes to the HTTPS
 * server, anything else (plain HTTP) gets a 400 naming the problem and the connection closes, so
 * nothing is ever served in clear. 'localhost' listens on both loopback addresses.
 */
export class Listener {
  readonly #https: https.Server;
  readonly #sockets: net.Server[] = [];
  readonly #opts: ListenerOptions;
  /** Open TLS connections and how many requests each is serving. Node's own tracking only covers servers that listen() themselves. */
  readonly #connections = new Map<net.Socket, number>();
  /** Every accepted socket, whatever stage it is at (first byte, handshake, plain-HTTP refusal, TLS): all closed on stop. */
  readonly #raw = new Set<net.Socket>();
  #inFlight = 0;
  #stopping = false;
  #idle: (() => void) | undefined;
  port = 0;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
    this.#https = https.createServer(
      {
        key: opts.key,
        cert: opts.cert,
        minVersion: 'TLSv1.2',
        keepAliveTimeout: 65_000,
        // A request's headers must arrive within this (TRENT_HEADERS_TIMEOUT_SECONDS, default 60): a client that
        // drips them is answered 408 and cut off.
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: Math.max(300_000, HEADERS_TIMEOUT_MS),
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      },
      (req, res) => {
        const socket = req.socket;
        this.#inFlight++;
        this.#connections.set(socket, (this.#connections.get(socket) ?? 0) + 1);
        if (this.#stopping) res.setHeader('connection', 'close');
        res.once('close', () => {
          this.#inFlight--;
          const left = (this.#connections.get(socket) ?? 1) - 1;
          if (this.#connections.has(socket)) this.#connections.set(socket, left);
          if (this.#stopping && left === 0) socket.destroySoon();
          if (this.#inFlight === 0) this.#idle?.();
        });
        opts.handler(req, res);
      },
    );
    // Node answers 417 to an Expect other than 100-continue unless told otherwise; AWS serves such requests as any other.
    this.#https.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => this.#https.emit('request', req, res));
    this.#https.on('secureConnection', (socket: net.Socket) => {
      this.#connections.set(socket, 0);
      socket.once('close', () => this.#connections.delete(socket));
    });
    this.#https.on('tlsClientError', (err) => opts.log.debug({ err: err.message }, 'TLS handshake failed'));
    // Connections reach this server by hand (see #accept), never through its own listen(): Node starts enforcing
    // headersTimeout and requestTimeout (a client dripping its headers is answered 408 and cut) on 'listening'.
    this.#https.emit('listening');
  }

  #accept = (socket: net.Socket): void => {
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    this.#raw.add(socket);
    socket.once('close', () => this.#raw.delete(socket));
    socket.once('error', () => socket.destroy());
    // A connection that never sends a byte is dropped; after the hand-off, Node's header and request timeouts apply.
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) this.#https.emit('connection', socket);
      else {
        // The refusal is sent and the connection closed, whether or not the client closes its side.
        socket.end(PLAIN_HTTP_REFUSAL);
        setTimeout(() => socket.destroy(), 1_000).unref();
      }
    });
    socket.resume();
  };

  async listen(): Promise<void> {
    const hosts = this.#opts.host === 'localhost' ? ['127.0.0.1', '::1'] : [this.#opts.host];
    let port = this.#opts.port;
    for (const [i, host] of hosts.entries()) {
      // noDelay: responses go out at once (Nagle with delayed ACKs adds up to 40 ms per response); node:https would set it for sockets it accepted itself.
      const server = net.createServer({ pauseOnConnect: true, noDelay: true, keepAlive: true }, this.#accept);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port, ...(this.#opts.reusePort ? { reusePort: true, exclusive: true } : {}) }, () => resolve());
        });
      } catch (err) {
        // ::1 may be absent (IPv6 disabled): the IPv4 loopback alone still serves 'localhost'.
        if (i > 0 && ['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes((err as NodeJS.ErrnoException).code ?? '')) continue;
        throw err;
      }
      port = (server.address() as net.AddressInfo).port;
      this.#sockets.push(server);
    }
    this.port = port;
  }

  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then close every connection. */
  async close(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    const closed = Promise.all(this.#sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const [socket, active] of this.#connections) if (active === 0) socket.destroy();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const socket of this.#connections.keys()) socket.destroy();
    // Connections still handshaking, refused as plain HTTP, or never sending a byte.
    for (const socket of this.#raw) socket.destroy();
    await closed;
  }
}

/**
 * Before workers bind a port together (SO_REUSEPORT): check that nothing else holds it and, for port 0, choose one,
 * then hold it until the workers have bound it. The check binds without SO_REUSEPORT, so a port another program (or
 * another Trent) serves is refused with EADDRINUSE instead of being shared; the hold (a socket in the port's
 * SO_REUSEPORT group that never serves, released once the first worker has bound the port, whose socket then does the
 * same) keeps another Trent's check from passing while the workers start. Returns the port and the release of the hold.
 */
export async function reservePort(host: string, port: number): Promise<{ port: number; release: () => Promise<void> }> {
  const hosts = host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
  let chosen = port;
  const held: net.Server[] = [];
  const bind = (h: string, reuse: boolean) =>
    new Promise<net.Server>((resolve, reject) => {
      // A connection the kernel gives the check or the hold is reset at once (the client tries again and reaches a
      // worker), never kept: closing a server waits for the connections it accepted.
      const server = net.createServer({ pauseOnConnect: true }, (socket) => socket.resetAndDestroy());
      server.once('error', reject);
      server.listen({ host: h, port: chosen, exclusive: true, ...(reuse ? { reusePort: true } : {}) }, () => resolve(server));
    });
  const release = async () => {
    await Promise.all(held.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };
  try {
    for (const [i, h] of hosts.entries()) {
      let check: net.Server;
      try {
        check = await bind(h, false);
      } catch (err) {
        if (i > 0 && ['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes((err as NodeJS.ErrnoException).code ?? '')) continue;
        throw err;
      }
      chosen = (check.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => check.close(() => resolve()));
      held.push(await bind(h, true));
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { port: chosen, release };
}
