// Renders the sshd_config of one simulated host: one loopback address, key auth for the deploy user
// only, limits raised for a fan-out of ~200 parallel handshakes, and nothing read from /etc/ssh.

export interface SshdConfigParams {
  readonly address: string;
  readonly port: number;
  readonly hostKeyPath: string;
  readonly pidFilePath: string;
  readonly authorizedKeysPath: string;
  readonly user: string;
  /** MaxStartups, e.g. "100:30:200"; OpenSSH's default 10:30:100 refuses a wide fan-out. */
  readonly maxStartups: string;
  /** Debian's default external sftp-server: run through the user's shell, so ~/.bashrc noise breaks it. */
  readonly sftpServer: string;
  /** OpenSSH 9.8+ only: its per-source penalties would lock 127.0.0.1 out after a test's failed logins. */
  readonly perSourcePenalties: boolean;
}

export function renderSshdConfig(p: SshdConfigParams): string {
  return [
    `Port ${p.port}`,
    `ListenAddress ${p.address}`,
    "AddressFamily inet",
    `HostKey ${p.hostKeyPath}`,
    `PidFile ${p.pidFilePath}`,
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    `AuthorizedKeysFile ${p.authorizedKeysPath}`,
    // The keys file lives in the fleet's temp dir under /tmp (mode 1777), which StrictModes rejects.
    "StrictModes no",
    // Without PAM, sshd itself refuses an account whose password field starts with "!" (locked).
    "UsePAM no",
    `AllowUsers ${p.user}`,
    "PermitRootLogin no",
    `MaxStartups ${p.maxStartups}`,
    "MaxSessions 20",
    "LogLevel ERROR",
    // Classic DH at ~200 parallel handshakes burns the CPU (see FIELD-NOTES "SSH fan-out").
    "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "X11Forwarding no",
    `Subsystem sftp ${p.sftpServer}`,
    ...(p.perSourcePenalties ? ["PerSourcePenalties no"] : []),
    "",
  ].join("\n");
}
