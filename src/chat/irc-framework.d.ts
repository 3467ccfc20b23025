// irc-framework ships no types: just the members tugboat uses.
declare module "irc-framework" {
  import type { EventEmitter } from "node:events";

  export interface ClientOptions {
    host: string;
    port: number;
    tls?: boolean;
    rejectUnauthorized?: boolean;
    password?: string;
    nick: string;
    username?: string;
    gecos?: string;
    account?: { account?: string; password?: string };
    auto_reconnect?: boolean;
    ping_interval?: number;
    ping_timeout?: number;
    message_max_length?: number;
    enable_echomessage?: boolean;
    version?: string;
  }

  export interface MessageEvent {
    nick: string;
    ident: string;
    hostname: string;
    target: string;
    message: string;
    account?: string | false;
    from_server?: boolean;
    tags: Record<string, string>;
  }

  export class Client extends EventEmitter {
    constructor(options?: Partial<ClientOptions>);
    user: { nick: string; username: string; host: string };
    connection: { connected: boolean; end(data?: string, had_error?: boolean): void };
    connect(options?: ClientOptions): void;
    raw(...args: string[]): void;
    join(channel: string, key?: string): void;
    changeNick(nick: string): void;
    quit(message?: string): void;
    requestCap(cap: string | string[]): void;
  }
}
