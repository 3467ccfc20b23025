// The RemoteShell port: run one command on one host, with a deadline, and say honestly what happened.
// Adapters: Ssh2Shell (OpenSSH servers over ssh2) and LocalShell (the demo fleet on this machine).

export interface Host {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  readonly groups: readonly string[];
}

/**
 * Why a host could not do what was asked. `unreachable`: no TCP connection (refused, no route);
 * `timeout`: a deadline passed (connect/handshake, keepalive, or the step's own); `hostkey`: its key
 * is unknown or does not match known_hosts; `auth`: the server refused our key; `failed`: the command
 * ran and exited non-zero; `protocol`: the connection broke mid-command.
 */
export type FailureKind = "unreachable" | "timeout" | "hostkey" | "auth" | "failed" | "protocol";

export class HostFailure extends Error {
  override readonly name = "HostFailure";
  constructor(
    readonly host: string,
    readonly kind: FailureKind,
    message: string,
    readonly detail: {
      readonly exitCode?: number;
      readonly stderrTail?: string;
      readonly step?: string;
      /** A command stopped at its deadline: whether the host confirmed it was killed. */
      readonly killed?: boolean;
      /** What the command printed before it was stopped. */
      readonly stdout?: string;
      readonly stderr?: string;
    } = {},
  ) {
    super(`${host}: ${message}`);
  }
}

export interface ExecRequest {
  /** A command line for the remote user's shell; build it with shellCommand(), never from user text. */
  readonly command: string;
  readonly stdin?: Buffer;
  /**
   * Deadline for the command. When it passes, the command is killed on the host with its whole process
   * group, and exec rejects with a `timeout` HostFailure saying whether the host confirmed the kill.
   */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Standard output as it arrives (a step that reports its phases is followed live). */
  readonly onStdout?: (text: string) => void;
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Bytes written to the host (stdin and protocol payload we sent), for transfer accounting. */
  readonly bytesSent: number;
}

export interface RemoteShell {
  /** Resolves with the exit code (non-zero included); rejects with HostFailure when it could not run. */
  exec(host: Host, req: ExecRequest): Promise<ExecResult>;
  /**
   * Opens the connection to a host before any command needs it (a bot connects to its fleet when it
   * starts, so that its first deploy pays no handshake), or confirms the one open. Rejects with the
   * HostFailure (step "connect") of a connection that cannot be made. Without connections: resolves.
   */
  connect(host: Host): Promise<void>;
  /** Connections open now, and handshakes completed since this shell was made. */
  connectionStats(): { readonly open: number; readonly made: number };
  /** Closes the connection to one host (all when omitted). */
  close(host?: Host): Promise<void>;
}
