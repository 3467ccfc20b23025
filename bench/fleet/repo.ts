// A realistic, deterministic application repository for the fleet-deploy benchmark: ~4,000 files in
// nested directories (PHP classes and their tests, JS and LESS modules, i18n JSON, extensions, docs, a few
// executable scripts and one symlink), ~6 MB of text. Built once with `git fast-import` (fixed author,
// dates and seed, so the same SHAs every time) into a bare repository under bench/.cache/; tags v1..vN:
// v1 is the first release, each later tag changes exactly 3 files of the one before.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { rng } from "../lib/sal-corpus.js";
import { BENCH_DIR } from "../lib/stats.js";

export const REPO_SEED = 4_000_2026;
const REPO_VERSION = 1;
/** v1 plus this many 3-file changes. */
export const CHANGES = 6;
export const REPO_DIR = join(BENCH_DIR, ".cache", `fleet-repo-seed${REPO_SEED}-v${REPO_VERSION}.git`);

export interface RepoFile {
  readonly path: string;
  readonly mode: "100644" | "100755" | "120000";
  readonly content: string;
}

export interface BenchRepo {
  readonly dir: string;
  /** tags[0] = "v1" ... */
  readonly tags: readonly string[];
  /** SHA of each tag, same order. */
  readonly shas: readonly string[];
  /** The files each change (v2, v3, ...) rewrote, with their new content: for verification. */
  readonly changed: ReadonlyArray<ReadonlyArray<{ path: string; content: string }>>;
  readonly files: number;
  readonly bytes: number;
  readonly dirs: number;
  readonly packBytes: number;
  readonly built: boolean;
  readonly buildMs: number;
}

const WORDS = [
  "page", "revision", "user", "session", "cache", "parser", "title", "link", "category", "template", "message", "config",
  "storage", "queue", "job", "hook", "media", "file", "upload", "search", "index", "query", "database", "load", "balancer",
  "permission", "group", "right", "token", "edit", "diff", "history", "log", "event", "stream", "filter", "spam", "block",
  "import", "export", "api", "module", "action", "special", "skin", "output", "request", "response", "router", "handler",
  "service", "factory", "store", "lookup", "record", "entity", "property", "value", "format", "language", "converter",
  "notification", "watchlist", "recent", "change", "tag", "content", "model", "slot", "role", "namespace", "interwiki",
];
const AREAS = [
  "Api", "Auth", "Cache", "Category", "Content", "Db", "Deferred", "Diff", "Export", "FileRepo", "Html", "Http", "Import",
  "Installer", "Interwiki", "JobQueue", "Language", "Linker", "Logging", "Mail", "Media", "Page", "Parser", "Permissions",
  "Rest", "ResourceLoader", "Revision", "Search", "Session", "Skins", "Specials", "Storage", "Title", "Upload", "User", "Watchlist",
];
const LANGS = [
  "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "uk", "ja", "zh", "ko", "ar", "he", "fa", "tr", "sv", "fi", "no",
  "da", "cs", "hu", "ro", "el", "bg", "sr", "hr", "sk", "sl", "et", "lv", "lt", "id", "vi", "th", "hi", "bn", "ta", "ca",
];

export function generateTree(seed: number): RepoFile[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const cap = (w: string) => w[0]!.toUpperCase() + w.slice(1);
  const camel = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? pick(WORDS) : cap(pick(WORDS)))).join("");
  const pascal = (n: number) => cap(camel(n));
  const sentence = (n: number) => cap(Array.from({ length: n }, () => pick(WORDS)).join(" "));
  const files: RepoFile[] = [];
  const seen = new Set<string>();
  const add = (path: string, content: string, mode: RepoFile["mode"] = "100644") => {
    if (seen.has(path)) return;
    seen.add(path);
    files.push({ path, mode, content });
  };

  const phpMethod = () => {
    const name = camel(int(2, 3));
    const args = Array.from({ length: int(0, 3) }, () => `$${camel(1)}`);
    const body = Array.from({ length: int(2, 9) }, () => {
      const v = `$${camel(2)}`;
      switch (int(0, 4)) {
        case 0: return `\t\t${v} = $this->${camel(1)}->${camel(2)}( ${args[0] ?? "null"} );`;
        case 1: return `\t\tif ( ${v} === null ) {\n\t\t\tthrow new InvalidArgumentException( '${sentence(int(3, 7))}' );\n\t\t}`;
        case 2: return `\t\tforeach ( $this->${camel(2)} as $key => $value ) {\n\t\t\t${v}[$key] = $value;\n\t\t}`;
        case 3: return `\t\t// ${sentence(int(5, 12))}.`;
        default: return `\t\treturn ${v} ?? [];`;
      }
    }).join("\n");
    return `\t/**\n\t * ${sentence(int(4, 10))}.\n${args.map((a) => `\t * @param mixed ${a}\n`).join("")}\t * @return mixed\n\t */\n\tpublic function ${name}( ${args.join(", ")} ) {\n${body}\n\t}\n`;
  };
  const phpClass = (ns: string, name: string, test = false) =>
    `<?php\n/**\n * ${sentence(int(6, 14))}.\n *\n * @license GPL-2.0-or-later\n * @file\n */\n\nnamespace ${ns};\n\n` +
    Array.from({ length: int(1, 4) }, () => `use App\\${pick(AREAS)}\\${pascal(2)};\n`).join("") +
    `\nclass ${name} extends ${test ? "MediaWikiIntegrationTestCase" : pascal(2)} {\n` +
    Array.from({ length: int(1, 4) }, () => `\tprivate $${camel(2)};\n`).join("") +
    "\n" +
    Array.from({ length: int(1, test ? 3 : 5) }, phpMethod).join("\n") +
    "}\n";
  const jsModule = () =>
    `/*!\n * ${sentence(int(4, 9))}.\n */\n( function () {\n\t'use strict';\n\n` +
    Array.from({ length: int(2, 6) }, () => {
      const fn = camel(int(2, 3));
      return `\t/**\n\t * ${sentence(int(3, 8))}.\n\t *\n\t * @param {Object} ${camel(1)}\n\t */\n\tfunction ${fn}( ${camel(1)} ) {\n\t\tvar ${camel(2)} = mw.config.get( '${pascal(2)}' );\n\t\tif ( !${camel(1)} ) {\n\t\t\treturn $.Deferred().reject( '${camel(2)}' ).promise();\n\t\t}\n\t\treturn new mw.Api().get( { action: '${pick(WORDS)}', ${camel(1)}: ${camel(1)}.${camel(2)} } );\n\t}\n`;
    }).join("\n") +
    `\n\tmodule.exports = { ${camel(2)}: ${camel(2)} };\n}() );\n`;
  const less = () =>
    Array.from({ length: int(3, 12) }, () => `.mw-${pick(WORDS)}-${pick(WORDS)} {\n\tmargin: ${int(0, 16)}px ${int(0, 16)}px;\n\tcolor: #${int(0, 0xffffff).toString(16).padStart(6, "0")};\n\t&:hover { text-decoration: underline; }\n}\n`).join("\n");
  const i18n = (keys: readonly string[]) => `${JSON.stringify(Object.fromEntries([["@metadata", { authors: [pascal(1), pascal(1)] }], ...keys.map((k) => [k, sentence(int(2, 12))])]), null, "\t")}\n`;

  // Core: includes/ (PHP), its tests, resources/ (JS + LESS), i18n.
  for (const area of AREAS) {
    const subs = ["", ...Array.from({ length: int(0, 4) }, () => pascal(1))];
    for (const sub of subs) {
      const dir = sub ? `includes/${area}/${sub}` : `includes/${area}`;
      const ns = `App\\${area}${sub ? `\\${sub}` : ""}`;
      for (let i = 0, n = int(7, 20); i < n; i++) {
        const name = pascal(int(2, 3));
        add(`${dir}/${name}.php`, phpClass(ns, name));
        if (r() < 0.4) add(`tests/phpunit/${dir.slice("includes/".length)}/${name}Test.php`, phpClass(`App\\Tests\\${area}`, `${name}Test`, true));
      }
    }
  }
  const modules = Array.from({ length: 48 }, () => `mediawiki.${pick(WORDS)}.${pick(WORDS)}`);
  for (const m of modules) {
    for (let i = 0, n = int(6, 20); i < n; i++) add(`resources/src/${m}/${camel(2)}.js`, jsModule());
    for (let i = 0, n = int(1, 6); i < n; i++) add(`resources/src/${m}/styles/${pick(WORDS)}.less`, less());
    if (r() < 0.5) add(`tests/qunit/${m}/${camel(1)}.test.js`, jsModule());
  }
  const keys = Array.from({ length: 220 }, () => `${pick(WORDS)}-${pick(WORDS)}-${pick(WORDS)}`);
  for (const lang of LANGS) add(`languages/i18n/${lang}.json`, i18n(keys.filter(() => lang === "en" || r() < 0.7)));
  for (const lang of LANGS) add(`languages/messages/Messages${cap(lang)}.php`, `<?php\n$fallback = 'en';\n$rtl = ${lang === "ar" || lang === "he" || lang === "fa"};\n$namespaceNames = [\n${WORDS.slice(0, 16).map((w, i) => `\tNS_${w.toUpperCase()} => '${cap(w)}${i}',`).join("\n")}\n];\n`);

  // Extensions: each with extension.json, PHP, JS, i18n for many languages.
  for (let e = 0; e < 26; e++) {
    const ext = pascal(int(1, 2));
    const base = `extensions/${ext}`;
    add(`${base}/extension.json`, `${JSON.stringify({ name: ext, version: `${int(0, 3)}.${int(0, 20)}.0`, license: "GPL-2.0-or-later", AutoloadNamespaces: { [`App\\Extension\\${ext}\\`]: "includes/" }, Hooks: Object.fromEntries(Array.from({ length: int(1, 6) }, () => [pascal(2), `${ext}Hooks`])), manifest_version: 2 }, null, "\t")}\n`);
    for (let i = 0, n = int(4, 18); i < n; i++) {
      const name = pascal(2);
      add(`${base}/includes/${name}.php`, phpClass(`App\\Extension\\${ext}`, name));
    }
    for (let i = 0, n = int(2, 8); i < n; i++) add(`${base}/modules/ext.${ext.toLowerCase()}.${pick(WORDS)}.js`, jsModule());
    for (const lang of LANGS.slice(0, int(4, 32))) add(`${base}/i18n/${lang}.json`, i18n(Array.from({ length: int(5, 30) }, () => `${ext.toLowerCase()}-${pick(WORDS)}-${pick(WORDS)}`)));
  }

  // Maintenance scripts (some executable), docs, top-level files, one symlink.
  for (let i = 0; i < 60; i++) {
    const name = camel(2);
    add(`maintenance/${name}.php`, phpClass("App\\Maintenance", cap(name)));
  }
  for (let i = 0; i < 8; i++) add(`maintenance/${pick(WORDS)}-${pick(WORDS)}.sh`, `#!/bin/sh\nset -e\n# ${sentence(8)}.\nexec php "$(dirname "$0")/run.php" ${camel(2)} "$@"\n`, "100755");
  for (let i = 0; i < 40; i++) add(`docs/${pick(WORDS)}/${pick(WORDS)}.md`, `# ${sentence(4)}\n\n${Array.from({ length: int(3, 12) }, () => `${sentence(int(10, 30))}.`).join("\n\n")}\n`);
  add("bin/serve", "#!/bin/sh\nexec php -S 0.0.0.0:8080 -t \"$(dirname \"$0\")/..\"\n", "100755");
  add("composer.json", `${JSON.stringify({ name: "bench/app", require: { php: ">=8.1", "psr/log": "^3.0" }, autoload: { "psr-4": { "App\\": "includes/" } } }, null, "\t")}\n`);
  add("package.json", `${JSON.stringify({ name: "bench-app", private: true, scripts: { test: "grunt test" }, devDependencies: { grunt: "1.6.1", eslint: "8.57.0" } }, null, "\t")}\n`);
  add("README.md", `# Bench app\n\n${sentence(20)}.\n`);
  add(".gitignore", "/vendor/\n/node_modules/\n/cache/\n");
  add("LocalSettings.php", "<?php\n$wgSitename = 'Bench';\n$wgServer = 'http://localhost';\n");
  add("docroot/index.php", "<?php\nrequire __DIR__ . '/../includes/WebStart.php';\n");
  add("docroot/w", "..", "120000");
  return files;
}

/** The 3 files change `k` (1-based: v(k+1)) rewrites, and their new content. */
export function changeSet(files: readonly RepoFile[], k: number): Array<{ path: string; content: string }> {
  const php = files.filter((f) => f.path.startsWith("includes/") && f.path.endsWith(".php"));
  const js = files.filter((f) => f.path.startsWith("resources/") && f.path.endsWith(".js"));
  const stamp = `change ${k} of the fleet-deploy benchmark`;
  const a = php[(k * 97) % php.length]!;
  const b = js[(k * 131) % js.length]!;
  return [
    { path: a.path, content: `${a.content}// ${stamp}\n` },
    { path: b.path, content: `${b.content}// ${stamp}\n` },
    { path: "languages/i18n/en.json", content: `${JSON.stringify({ "@metadata": { authors: ["Bench"] }, "bench-release": stamp }, null, "\t")}\n` },
  ];
}

function fastImportStream(files: readonly RepoFile[], changes: ReadonlyArray<ReadonlyArray<{ path: string; content: string }>>): Buffer {
  const parts: Buffer[] = [];
  const push = (s: string | Buffer) => parts.push(typeof s === "string" ? Buffer.from(s, "utf8") : s);
  const data = (s: string) => {
    const b = Buffer.from(s, "utf8");
    push(`data ${b.length}\n`);
    push(b);
    push("\n");
  };
  files.forEach((f, i) => {
    push(`blob\nmark :${i + 1}\n`);
    data(f.content);
  });
  const who = (t: number) => `Bench Deployer <bench@example.org> ${t} +0000`;
  let t = 1_767_225_600; // 2026-01-01
  const commitMark = 1_000_000;
  push(`commit refs/heads/main\nmark :${commitMark}\nauthor ${who(t)}\ncommitter ${who(t)}\n`);
  data("Initial import of the bench app");
  for (const [i, f] of files.entries()) push(`M ${f.mode} :${i + 1} ${f.path}\n`);
  push("\n");
  push(`reset refs/tags/v1\nfrom :${commitMark}\n\n`);
  changes.forEach((set, k) => {
    t += 3600;
    push(`commit refs/heads/main\nmark :${commitMark + k + 1}\nauthor ${who(t)}\ncommitter ${who(t)}\n`);
    data(`Change ${k + 1}: ${set.map((c) => c.path).join(", ")}`);
    push(`from :${commitMark + k}\n`);
    for (const c of set) {
      push(`M 100644 inline ${c.path}\n`);
      data(c.content);
    }
    push("\n");
    push(`reset refs/tags/v${k + 2}\nfrom :${commitMark + k + 1}\n\n`);
  });
  return Buffer.concat(parts);
}

const git = (dir: string, args: string[], input?: Buffer) => execFileSync("git", [`--git-dir=${dir}`, ...args], { input, maxBuffer: 1 << 28, encoding: "utf8", env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: "/nonexistent" } }).trim();

/** Builds the repository once (cached under bench/.cache/), and describes it. */
export function ensureRepo(): BenchRepo {
  const files = generateTree(REPO_SEED);
  const changes = Array.from({ length: CHANGES }, (_, k) => changeSet(files, k + 1));
  const tags = Array.from({ length: CHANGES + 1 }, (_, i) => `v${i + 1}`);
  let built = false;
  const t0 = performance.now();
  if (!existsSync(join(REPO_DIR, "refs", "tags")) || !tagsPresent(tags)) {
    const tmp = `${REPO_DIR}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    execFileSync("git", ["init", "--quiet", "--bare", tmp]);
    git(tmp, ["fast-import", "--quiet"], fastImportStream(files, changes));
    git(tmp, ["symbolic-ref", "HEAD", "refs/heads/main"]);
    git(tmp, ["repack", "-adq"]);
    rmSync(REPO_DIR, { recursive: true, force: true });
    renameSync(tmp, REPO_DIR);
    built = true;
  }
  const shas = tags.map((t) => git(REPO_DIR, ["rev-parse", `${t}^{commit}`]));
  const packBytes = Number(/size-pack: (\d+)/.exec(git(REPO_DIR, ["count-objects", "-v"]))?.[1] ?? 0) * 1024;
  const dirs = new Set(files.flatMap((f) => f.path.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/")))).size;
  return {
    dir: REPO_DIR,
    tags,
    shas,
    changed: changes,
    files: files.length,
    bytes: files.reduce((a, f) => a + Buffer.byteLength(f.content), 0),
    dirs,
    packBytes,
    built,
    buildMs: performance.now() - t0,
  };
}

function tagsPresent(tags: readonly string[]): boolean {
  try {
    for (const t of tags) git(REPO_DIR, ["rev-parse", "--verify", "--quiet", `refs/tags/${t}`]);
    return true;
  } catch {
    return false;
  }
}
