// What the figures were measured on: CPU, cores, memory, kernel, filesystem, and the versions of the
// pieces in the measured path (node, SQLite, ngircd). Recorded in every results file.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, release, totalmem, tmpdir } from "node:os";
import Database from "better-sqlite3";

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly sqlite: string;
  readonly ngircd: string;
  readonly tmpFs: string;
}

function mountOf(path: string): string {
  try {
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f.length > 3 && path.startsWith(f[1]!))
      .sort((a, b) => b[1]!.length - a[1]!.length);
    const m = mounts[0];
    return m ? `${m[2]} on ${m[1]} (${m[0]}, ${m[3]})` : "unknown";
  } catch {
    return "unknown";
  }
}

function ngircdVersion(): string {
  try {
    return execFileSync("ngircd", ["--version"], { encoding: "utf8", timeout: 5000, env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` } }).split("\n")[0]!.split("-")[0]!.trim();
  } catch {
    return "not installed";
  }
}

export function describeMachine(): Machine {
  const db = new Database(":memory:");
  const sqlite = (db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v;
  db.close();
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    sqlite,
    ngircd: ngircdVersion(),
    tmpFs: mountOf(tmpdir()),
  };
}
