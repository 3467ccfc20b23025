// Starts a real Graphite (Debian packages graphite-carbon and graphite-web) on free loopback ports with
// a temp storage dir: carbon-cache in the foreground, and graphite-web's WSGI app served by the Python
// standard library's wsgiref (threaded) from the system python3 that the Debian packages install into.
// History is deterministic: timestamped plaintext lines sent to carbon, then awaited through render.

import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Daemon, freePort, httpReady, removeDir, tempDir } from "./daemon.js";
import { ensureDebianPackage } from "./ensure-package.js";

export interface GraphiteServer {
  /** graphite-web (render and events APIs). */
  readonly url: string;
  readonly carbonPort: number;
  /** Sends [path, value, ms] as plaintext lines and waits until render shows them all. */
  backfill(points: ReadonlyArray<readonly [string, number, number]>): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

const SERVE = `
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import make_server, WSGIServer, WSGIRequestHandler
class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
class Quiet(WSGIRequestHandler):
    def log_message(self, *args): pass
import django
django.setup()
from django.core.management import call_command
call_command('migrate', verbosity=0, interactive=False)
from graphite.wsgi import application
server = make_server('127.0.0.1', int(sys.argv[1]), application, server_class=Server, handler_class=Quiet)
print('graphite-web listening', flush=True)
server.serve_forever()
`;

export async function startGraphite(): Promise<GraphiteServer> {
  const carbon = await ensureDebianPackage("carbon-cache", "graphite-carbon");
  await ensureDebianPackage("graphite-manage", "graphite-web");
  // graphite-web and Django live in the system python's dist-packages, not in a pyenv or venv python.
  const python = await ensureDebianPackage("/usr/bin/python3", "python3");
  const dir = await tempDir("tugboat-graphite-");
  await mkdir(join(dir, "log"), { recursive: true });
  await mkdir(join(dir, "storage", "whisper"), { recursive: true });
  const [line, pickle, query, web] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await writeFile(join(dir, "carbon.conf"), `[cache]
STORAGE_DIR = ${dir}/storage/
LOCAL_DATA_DIR = ${dir}/storage/whisper/
CONF_DIR = ${dir}/
LOG_DIR = ${dir}/log/
PID_DIR = ${dir}/
DATABASE = whisper
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = ${line}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = ${pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = ${query}
`);
  // 10 s points kept for 2 days: backfilled history must fall inside the retention.
  await writeFile(join(dir, "storage-schemas.conf"), "[all]\npattern = .*\nretentions = 10s:2d\n");
  await writeFile(join(dir, "tugboat_graphite_settings.py"), `SECRET_KEY = 'tugboat-test'
STORAGE_DIR = '${dir}/storage'
WHISPER_DIR = '${dir}/storage/whisper/'
LOG_DIR = '${dir}/log'
INDEX_FILE = '${dir}/storage/index'
CARBONLINK_HOSTS = ['127.0.0.1:${query}']
DATABASES = {'default': {'NAME': '${dir}/storage/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
TIME_ZONE = 'UTC'
FUNCTION_PLUGINS = []
`);
  await writeFile(join(dir, "serve.py"), SERVE);
  const carbonDaemon = new Daemon("carbon-cache", [carbon, `--config=${dir}/carbon.conf`, `--pidfile=${dir}/carbon.pid`, "--nodaemon", "--logfile=-", "start"], { cwd: dir });
  const webDaemon = new Daemon("graphite-web", [python, join(dir, "serve.py"), String(web)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONPATH: dir, DJANGO_SETTINGS_MODULE: "graphite.settings", GRAPHITE_SETTINGS_MODULE: "tugboat_graphite_settings" },
  });
  const url = `http://127.0.0.1:${web}`;
  await carbonDaemon.start(() => canConnect(line));
  await webDaemon.start(httpReady(`${url}/render?target=none&format=json`), 120_000);
  return {
    url,
    carbonPort: line,
    logs: () => `${carbonDaemon.logs()}\n${webDaemon.logs()}`,
    async backfill(points) {
      await sendLines(line, points.map(([path, v, t]) => `${path} ${v} ${Math.floor(t / 1000)}\n`).join(""));
      const want = new Map<string, number>();
      for (const [path] of points) want.set(path, (want.get(path) ?? 0) + 1);
      const from = Math.floor(Math.min(...points.map((p) => p[2])) / 1000) - 10;
      const until = Math.floor(Math.max(...points.map((p) => p[2])) / 1000) + 10;
      const end = Date.now() + 30_000;
      for (const [path, n] of want) {
        for (;;) {
          const res = await fetch(`${url}/render?target=${encodeURIComponent(path)}&from=${from}&until=${until}&format=json`, { signal: AbortSignal.timeout(5000) });
          const body = (await res.json()) as Array<{ datapoints: Array<[number | null, number]> }>;
          if ((body[0]?.datapoints.filter((p) => p[0] !== null).length ?? 0) >= n) break;
          if (Date.now() > end) throw new Error(`carbon did not store ${n} points of ${path} within 30 s:\n${carbonDaemon.logs()}`);
          await sleep(200);
        }
      }
    },
    async stop() {
      await webDaemon.stop();
      await carbonDaemon.stop();
      removeDir(dir);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.setTimeout(1000);
    const done = (ok: boolean) => (s.destroy(), resolve(ok));
    s.once("connect", () => done(true)).once("error", () => done(false)).once("timeout", () => done(false));
  });
}

function sendLines(port: number, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => s.end(text));
    s.setTimeout(10_000, () => s.destroy(new Error("carbon did not take the lines within 10 s")));
    s.once("error", reject).once("close", (hadError) => (hadError ? undefined : resolve()));
  });
}
