// The error kinds the router and main.ts map to user-facing answers.
// UserError: the chat user or API caller can fix it. RemoteError: a host or service failed.
// ConfigError: start-up stops with exit code 2.

export class UserError extends Error {
  override readonly name = "UserError";
}

export class RemoteError extends Error {
  override readonly name = "RemoteError";
  constructor(
    readonly target: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${target}: ${message}`, options);
  }
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** `tugboat log` could not write the entry (after its retries): exit code 1. */
export class LogFailed extends Error {
  override readonly name = "LogFailed";
}
