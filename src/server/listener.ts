import net from 'node:net';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

const TLS_HANDSHAKE = 0x16;
const REFUSAL_TEXT = 'Trent serves HTTPS only. Use https:// and trust the CA Trent printed.\n';
const PLAIN_HTTP_REFUSAL = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(REFUSAL_TEXT)}\r\n\r\n${REFUSAL_TEXT}`;

export interface ListenerOptions {
  host: string;
  port: number;
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
  #inFlight = 0;
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
        headersTimeout: 60_000,
        requestTimeout: 300_000,
      },
      (req, res) => {
        this.#inFlight++;
        res.once('close', () => {
          this.#inFlight--;
          if (this.#inFlight === 0) this.#idle?.();
        });
        opts.handler(req, res);
      },
    );
    this.#https.on('tlsClientError', (err) => opts.log.debug({ err: err.message }, 'TLS handshake failed'));
  }

  #accept = (socket: net.Socket): void => {
    socket.once('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) this.#https.emit('connection', socket);
      else socket.end(PLAIN_HTTP_REFUSAL);
    });
    socket.resume();
  };

  async listen(): Promise<void> {
    const hosts = this.#opts.host === 'localhost' ? ['127.0.0.1', '::1'] : [this.#opts.host];
    let port = this.#opts.port;
    for (const [i, host] of hosts.entries()) {
      const server = net.createServer({ pauseOnConnect: true }, this.#accept);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port }, () => resolve());
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
    await Promise.all(this.#sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#https.closeIdleConnections();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#https.closeAllConnections();
  }
}
