// A host that accepts TCP connections and never sends a byte: what a wedged sshd or a black-holing
// firewall looks like to a client, which must time out on the handshake rather than hang forever.

import { createServer, type Server, type Socket } from "node:net";
import { LineRing } from "./line-ring.js";

export class Tarpit {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly log = new LineRing(500);

  constructor(
    readonly address: string,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => {
      this.sockets.add(socket);
      this.log.push(`${new Date().toISOString()} held a connection from ${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`);
      // Never read either: what the client sends piles up in the kernel's buffers, as with a hung peer.
      socket.pause();
      socket.unref();
      socket.on("error", () => socket.destroy());
      socket.once("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.address, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // A listening socket must not keep a test process alive on its own.
    server.unref();
    this.server = server;
  }

  /** Closes the listener and drops every held connection (clients see a reset). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** One line per connection accepted (and never answered), so a test can see the client tried. */
  logs(): string {
    return this.log.text();
  }
}
