import { type ParsedStream, parseWhole } from '@podrouter/core/http1/parse-whole.ts';
import type { RequestHead, ResponseHead } from '@podrouter/core/http1/parser.ts';
import { type FuzzCase, fuzzCase, Rng } from './generate.ts';
import type { Llhttp, LlhttpResult } from './llhttp.ts';

/**
 * Compares podrouter's parser with llhttp on one stream. Outcomes:
 * - `agree`: the same messages (heads, bodies, trailers, keep-alive); `agree-refused`: the
 *   same, then both refused the same message;
 * - `stricter:CODE`: podrouter refused a message llhttp accepted (CODE is podrouter's reason;
 *   each reason must be listed in docs/http1.md);
 * - `lenient:CODE`: podrouter accepted a message llhttp refused (CODE is llhttp's) — a
 *   framing a Node backend would not share: must not happen;
 * - `differ`: both accepted a message and saw different things in it: must not happen.
 */
export type Outcome =
  | 'agree'
  | 'agree-refused'
  | `stricter:${string}`
  | `lenient:${string}`
  | 'differ';

interface Canonical {
  readonly start: string;
  readonly headers: string;
  readonly body: string;
  readonly trailers: string;
}

const join = (fields: readonly string[]) => fields.join('\u0000');

function ours(stream: ParsedStream): Canonical[] {
  return stream.messages.map((m) => {
    const head = m.head as Partial<RequestHead & ResponseHead>;
    return {
      start:
        head.status === undefined
          ? `${head.method} ${head.target} 1.${head.versionMinor}`
          : `${head.status} ${head.reason} 1.${head.versionMinor}`,
      headers: `${join(m.head.headers)} keep-alive ${m.head.keepAlive}`,
      body: m.body.toString('latin1'),
      trailers: join(m.trailers),
    };
  });
}

function theirs(result: LlhttpResult, kind: 'request' | 'response'): Canonical[] {
  return result.messages.map((m) => ({
    start:
      kind === 'request'
        ? `${m.method} ${m.target} ${m.versionMajor}.${m.versionMinor}`
        : `${m.status} ${m.reason} ${m.versionMajor}.${m.versionMinor}`,
    headers: `${join(m.headers)} keep-alive ${m.keepAlive}`,
    body: m.body.toString('latin1'),
    trailers: join(m.trailers),
  }));
}

export interface Comparison {
  readonly outcome: Outcome;
  /** Index of the first message where the parsers parted, when they did. */
  readonly at: number;
}

export function compare(llhttp: Llhttp, input: FuzzCase): Comparison {
  const mine = parseWhole(input.kind, [input.bytes], { eof: true, requestMethods: input.methods });
  const other = llhttp.parse(input.kind, input.bytes, input.methods);
  let a = ours(mine);
  let b = theirs(other, input.kind);
  // llhttp reports keep-alive before it is told a response answers HEAD, so for those it
  // says "until close" of a response that has no body at all; podrouter's answer is right.
  if (input.kind === 'response') {
    for (const list of [a, b]) {
      let final = 0;
      list.forEach((m, i) => {
        const status = Number(m.start.slice(0, 3));
        if (status >= 200 && input.methods[final] === 'HEAD')
          list[i] = { ...m, headers: m.headers.replace(/ keep-alive (true|false)$/, '') };
        if (status >= 200) final++;
      });
    }
  }
  let otherError = other.error;
  let mineError = mine.error?.code ?? null;
  // Where the HTTP/1.1 stream ends even if bytes follow: after an upgrade (a request with
  // Upgrade, CONNECT, a 101: the rest is another protocol; llhttp stops there) and after a
  // message that closes the connection (llhttp ignores or refuses what follows; a caller of
  // podrouter's parser stops reading). Errors past that point do not count, for either.
  let cut = Number.POSITIVE_INFINITY;
  let headsOnly = -1;
  const upgradeAt = other.messages.findIndex((m) => m.upgrade);
  const switchedAt = mine.messages.findIndex(
    (m) => (m.head as Partial<ResponseHead>).status === 101,
  );
  for (const at of [upgradeAt, switchedAt]) {
    if (at >= 0 && at + 1 < cut) {
      cut = at + 1;
      headsOnly = at;
    }
  }
  const closeAt = other.messages.findIndex((m) => !m.keepAlive);
  if (closeAt >= 0 && closeAt + 1 < cut) cut = closeAt + 1;
  if (cut !== Number.POSITIVE_INFINITY) {
    a = a.slice(0, cut);
    b = b.slice(0, cut);
    if (a.length === cut) mineError = null;
    if (b.length === cut) otherError = null;
    // What llhttp does with the body of an upgrade request is its own business: heads only.
    for (const list of [a, b]) {
      const m = list[headsOnly];
      if (m !== undefined) list[headsOnly] = { ...m, body: '', trailers: '' };
    }
  }
  const shared = Math.min(a.length, b.length);
  for (let i = 0; i < shared; i++) {
    const x = a[i] as Canonical;
    const y = b[i] as Canonical;
    if (
      x.start !== y.start ||
      x.headers !== y.headers ||
      x.body !== y.body ||
      x.trailers !== y.trailers
    )
      return { outcome: 'differ', at: i };
  }
  if (a.length === b.length) {
    if (mineError === null && otherError === null) return { outcome: 'agree', at: -1 };
    if (mineError !== null && otherError !== null) return { outcome: 'agree-refused', at: -1 };
    if (mineError !== null) return { outcome: `stricter:${mineError}`, at: a.length };
    return { outcome: `lenient:${otherError}`, at: a.length };
  }
  if (a.length < b.length) {
    return mineError === null
      ? { outcome: 'differ', at: a.length }
      : { outcome: `stricter:${mineError}`, at: a.length };
  }
  return otherError === null
    ? { outcome: 'differ', at: b.length }
    : { outcome: `lenient:${otherError}`, at: b.length };
}

export interface RunResult {
  readonly cases: number;
  readonly outcomes: Record<string, number>;
  /** Cases whose outcome is not allowed, with a printable copy of their bytes. */
  readonly failures: Array<{
    outcome: Outcome;
    /** Replays with `--seed S --replay INDEX`. */
    index: number;
    kind: string;
    methods: readonly string[];
    bytes: string;
  }>;
}

/** Runs `count` generated cases from `seed`; `allowed` decides which outcomes are fine. */
/** The case `index` of the stream of cases generated from `seed`. */
export function replay(seed: number, index: number): FuzzCase {
  const rng = new Rng(seed);
  for (let i = 0; i < index; i++) fuzzCase(rng);
  return fuzzCase(rng);
}

export function run(
  llhttp: Llhttp,
  seed: number,
  count: number,
  allowed: (outcome: Outcome, input: FuzzCase) => boolean,
  maxFailures = 20,
): RunResult {
  const rng = new Rng(seed);
  const outcomes: Record<string, number> = {};
  const failures: RunResult['failures'] = [];
  for (let i = 0; i < count; i++) {
    const input = fuzzCase(rng);
    const { outcome } = compare(llhttp, input);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (!allowed(outcome, input) && failures.length < maxFailures) {
      failures.push({
        outcome,
        index: i,
        kind: input.kind,
        methods: input.methods,
        bytes: JSON.stringify(input.bytes.toString('latin1')),
      });
    }
  }
  return { cases: count, outcomes, failures };
}
