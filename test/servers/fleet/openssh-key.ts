// Ed25519 key pairs in OpenSSH's own formats, made with node:crypto rather than one ssh-keygen process
// per host: ssh-keygen costs ~20 ms of CPU per run here (4 s for a 200-host fleet), this ~1 ms. OpenSSH
// before 9.6 reads ed25519 private keys only in its "openssh-key-v1" format, so that is what is written.

import { generateKeyPairSync, randomBytes } from "node:crypto";

export interface OpensshKeyPair {
  /** "-----BEGIN OPENSSH PRIVATE KEY-----" ...: write it with mode 0600, sshd refuses a readable key. */
  readonly privateKey: string;
  /** "ssh-ed25519 AAAA... comment", as in a .pub file or authorized_keys. */
  readonly publicKey: string;
}

const KEY_TYPE = "ssh-ed25519";

export function generateEd25519Key(comment: string): OpensshKeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  if (jwk.d === undefined || jwk.x === undefined) throw new Error("node:crypto exported an ed25519 JWK without d or x");
  const seed = Buffer.from(jwk.d, "base64url");
  const pub = Buffer.from(jwk.x, "base64url");
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(pub)]);

  const check = randomBytes(4);
  const secret = Buffer.concat([
    check,
    check,
    sshString(KEY_TYPE),
    sshString(pub),
    // OpenSSH keeps the 64-byte "secret key" of ref10: the seed followed by the public key.
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Unencrypted keys are padded to the "none" cipher's block size of 8 with the bytes 1, 2, 3, ...
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(publicBlob),
    sshString(Buffer.concat([secret, padding])),
  ]);
  const base64 = body.toString("base64").replace(/.{1,70}/g, "$&\n");
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${base64}-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `${KEY_TYPE} ${publicBlob.toString("base64")} ${comment}`,
  };
}

/** A known_hosts line for a server on a non-default port; the trailing comment names the host. */
export function knownHostsLine(address: string, port: number, publicKey: string, name: string): string {
  const [type, blob] = publicKey.split(" ");
  if (type === undefined || blob === undefined) throw new Error(`not an OpenSSH public key: ${publicKey}`);
  return `[${address}]:${port} ${type} ${blob} ${name}`;
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}
