// Reads the identification line ("SSH-2.0-OpenSSH_9.2p1 ...") a server sends first on a TCP connection:
// how the fleet knows a host is up, and how a test shows the tarpit never answers.

import { connect } from "node:net";

/** The server's first line, or null if the connection fails or no full line comes within `timeoutMs`. */
export function readSshBanner(address: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let received = "";
    const timer = setTimeout(() => done(null), timeoutMs);
    const done = (line: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    // Identifying ourselves first makes sshd's preauth child log the close at INFO (hidden at LogLevel
    // ERROR) rather than "kex_exchange_identification: Connection closed by remote host" at ERROR.
    socket.once("connect", () => socket.write("SSH-2.0-tugboat_fleet_probe\r\n"));
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      received += chunk;
      const end = received.indexOf("\n");
      if (end >= 0) done(received.slice(0, end).replace(/\r$/, ""));
    });
    socket.once("error", () => done(null));
    socket.once("close", () => done(null));
  });
}
