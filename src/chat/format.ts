// IRC text as bytes on the wire: stripping mIRC formatting, counting UTF-8 bytes, budgeting a
// message's text within the 512-byte line limit, splitting long text on word / grapheme / code point
// boundaries, capping a reply's lines, and compressing host lists into the `web[01-07,12]` form.
// Pure functions, no I/O.

const IRC_LINE_BYTES = 512;

/**
 * Bytes the server adds around the text of a relayed message, besides nick, user, host, command and
 * target: ":" "!" "@" " " (after host) " " (after command) " :" (before text) and the CRLF.
 */
const FRAMING_BYTES = 9;

/** The longest host ircd will show (HOSTLEN); what we assume when we do not know our own host. */
const MAX_HOST_BYTES = 63;

// \x03 takes up to two digits of foreground, then an optional comma and up to two digits of
// background; a comma with no digit after it is text ("\x0304,5" keeps nothing, "\x0304," keeps ",").
// \x04 is the same with six hex digits per colour.
const FORMATTING =
  /\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g;
const C0_CONTROL = /[\x00-\x1f]/g;

/**
 * Removes mIRC formatting codes (bold, colour, hex colour, reset, reverse, italic, strikethrough,
 * underline, monospace) and replaces every other C0 control character, newlines and tabs included,
 * by a space. Nothing is collapsed or trimmed.
 */
export function stripFormatting(text: string): string {
  return text.replace(FORMATTING, "").replace(C0_CONTROL, " ");
}

/** Bytes of `text` encoded as UTF-8; a lone surrogate counts 3, as encoders write it as U+FFFD. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

export interface MessageBudgetOptions {
  readonly nick: string;
  readonly user: string;
  /** Our host as other clients see it, or null when we have not learned it yet. */
  readonly host: string | null;
  readonly command: "PRIVMSG" | "NOTICE";
  readonly target: string;
}

/**
 * Bytes left for the text so that `:nick!user@host COMMAND target :text\r\n` fits in 512 bytes.
 * The server prepends our prefix when it relays the line to others and truncates what overflows,
 * so the budget must count a host we may not know (a cloak or reverse DNS the server picks, learned
 * only from our own JOIN echo or WHOIS). Until then assume the longest host a server will show.
 */
export function messageBudget(opts: MessageBudgetOptions): number {
  const used =
    FRAMING_BYTES +
    utf8Length(opts.nick) +
    utf8Length(opts.user) +
    (opts.host === null ? MAX_HOST_BYTES : utf8Length(opts.host)) +
    opts.command.length +
    utf8Length(opts.target);
  return Math.max(0, IRC_LINE_BYTES - used);
}

interface Token {
  readonly text: string;
  readonly bytes: number;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * Splits `text` into pieces of at most `budget` UTF-8 bytes. Each newline (\r\n, \n or \r) starts a
 * new piece. A piece ends at the last space that fits (the space is dropped); a word longer than the
 * budget is cut between graphemes, or between code points when one grapheme alone is too long, so no
 * piece ever ends inside a UTF-8 sequence or a surrogate pair. Pieces are trimmed of spaces and never
 * empty. Throws a RangeError when `budget` cannot hold one code point (4 bytes).
 */
export function splitMessage(text: string, budget: number): string[] {
  if (!Number.isInteger(budget) || budget < 4) {
    throw new RangeError(`message budget must be an integer of at least 4 bytes, got ${budget}`);
  }
  const pieces: string[] = [];
  for (const line of text.split(/\r\n|\n|\r/)) splitLine(line, budget, pieces);
  return pieces;
}

function splitLine(line: string, budget: number, out: string[]): void {
  const tokens: Token[] = [];
  for (const { segment } of graphemes.segment(line)) {
    const bytes = utf8Length(segment);
    if (bytes <= budget) tokens.push({ text: segment, bytes });
    else for (const codePoint of segment) tokens.push({ text: codePoint, bytes: utf8Length(codePoint) });
  }
  const isSpace = (k: number): boolean => tokens[k]?.text === " ";

  let start = 0;
  while (start < tokens.length) {
    while (isSpace(start)) start++;
    if (start >= tokens.length) break;

    let fit = start;
    let used = 0;
    for (let t = tokens[fit]; t !== undefined && used + t.bytes <= budget; t = tokens[fit]) {
      used += t.bytes;
      fit++;
    }

    let end = fit;
    let next = fit;
    if (fit < tokens.length) {
      // The first token that did not fit may itself be the space to break at.
      for (let k = fit; k > start; k--) {
        if (isSpace(k)) {
          end = k;
          next = k + 1;
          break;
        }
      }
    }
    while (end > start && isSpace(end - 1)) end--;
    out.push(
      tokens
        .slice(start, end)
        .map((t) => t.text)
        .join(""),
    );
    start = next;
  }
}

/**
 * Caps a reply at `max` lines: past that, the first max-1 lines and then `more(hidden)`, where hidden
 * counts the lines not shown, e.g. "(12 more: https://...)".
 */
export function capLines(lines: readonly string[], max: number, more: (hidden: number) => string): string[] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max lines must be a positive integer, got ${max}`);
  if (lines.length <= max) return lines.slice();
  const shown = lines.slice(0, max - 1);
  return [...shown, more(lines.length - shown.length)];
}

interface HostNumber {
  readonly digits: string;
  readonly value: bigint;
}

interface HostGroup {
  readonly prefix: string;
  readonly suffix: string;
  readonly numbers: HostNumber[];
}

/** The last run of digits in a name, with what comes before and after it. */
const NUMBERED_HOST = /^(.*?)(\d+)(\D*)$/;

/**
 * Compresses host names into `web[01-07,12]` form: names are grouped by what surrounds their last run
 * of digits (mw1001.eqiad is "mw", 1001, ".eqiad"), numbers are sorted, deduplicated and merged into
 * ranges keeping their zero padding; a group of one prints plainly, names without digits as-is.
 * Groups come out sorted by name, joined by ", ".
 */
export function compressHosts(names: readonly string[]): string {
  const groups = new Map<string, HostGroup>();
  const plain = new Set<string>();
  for (const name of names) {
    if (name === "") continue;
    const match = NUMBERED_HOST.exec(name);
    if (match === null) {
      plain.add(name);
      continue;
    }
    const [, prefix = "", digits = "", suffix = ""] = match;
    const key = `${prefix}\0${suffix}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { prefix, suffix, numbers: [] };
      groups.set(key, group);
    }
    group.numbers.push({ digits, value: BigInt(digits) });
  }

  const entries: { key: string; text: string }[] = [];
  for (const [key, group] of groups) entries.push({ key, text: formatGroup(group) });
  for (const name of plain) entries.push({ key: name, text: name });
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return entries.map((e) => e.text).join(", ");
}

function formatGroup({ prefix, suffix, numbers }: HostGroup): string {
  const sorted = numbers
    .slice()
    .sort((a, b) => (a.value !== b.value ? (a.value < b.value ? -1 : 1) : a.digits.length - b.digits.length));
  const unique = sorted.filter((n, i) => n.digits !== sorted[i - 1]?.digits);
  const only = unique.length === 1 ? unique[0] : undefined;
  if (only !== undefined) return `${prefix}${only.digits}${suffix}`;

  const ranges: string[] = [];
  let first: HostNumber | undefined;
  let last: HostNumber | undefined;
  for (const n of unique) {
    if (first !== undefined && last !== undefined && n.value === last.value + 1n && samePadding(last, n)) {
      last = n;
      continue;
    }
    if (first !== undefined && last !== undefined) ranges.push(formatRange(first, last));
    first = n;
    last = n;
  }
  if (first !== undefined && last !== undefined) ranges.push(formatRange(first, last));
  return `${prefix}[${ranges.join(",")}]${suffix}`;
}

/** web09 and web10 belong in one range, as do web9 and web10; web9 and web010 do not. */
function samePadding(a: HostNumber, b: HostNumber): boolean {
  const unpadded = (n: HostNumber): boolean => n.digits.length === 1 || !n.digits.startsWith("0");
  return a.digits.length === b.digits.length || (unpadded(a) && unpadded(b));
}

function formatRange(first: HostNumber, last: HostNumber): string {
  return first === last ? first.digits : `${first.digits}-${last.digits}`;
}
