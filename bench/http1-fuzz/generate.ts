/**
 * Seeded generators of HTTP/1.1 byte streams for the differential fuzzer: messages built from
 * a grammar that mixes valid and invalid choices at every point where parsers are known to
 * disagree (framing fields, line endings, whitespace, chunk lines, versions), then mutated
 * byte by byte. The same seed gives the same streams.
 */

/** mulberry32: small, fast, good enough to spread inputs. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** A clean case takes only valid choices; a noisy one takes the invalid ones now and then. */
  clean = false;
  /** The valid choice: always in a clean case, with probability p in a noisy one. */
  ok(p: number): boolean {
    return this.clean || this.next() < p;
  }
  /** An invalid choice: never in a clean case. */
  bad(p: number): boolean {
    return !this.clean && this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Bytes that sit on the edges of the grammars. */
const EDGE_BYTES = [
  0x00, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x22, 0x23, 0x2c, 0x3a, 0x3b, 0x3d, 0x5c, 0x7f, 0x80,
  0xa0, 0xff, 0x30, 0x31, 0x41, 0x66,
];

const token = (rng: Rng, max = 10) => {
  let out = '';
  const length = 1 + rng.int(max);
  for (let i = 0; i < length; i++) out += TCHARS[rng.int(TCHARS.length)];
  return out;
};

const eol = (rng: Rng) => (rng.ok(0.97) ? '\r\n' : rng.pick(['\n', '\r', '\r\r\n', '\n\r']));
const ows = (rng: Rng) =>
  rng.ok(0.8) ? '' : rng.pick([' ', '\t', '  ', ' \t', '\u000b', '\u000c']);

/** Transfer-Encoding values: the valid one, and the obfuscations smuggling scanners try. */
const TE_VALUES = [
  'chunked',
  'Chunked',
  'CHUNKED',
  'chunked, chunked',
  'gzip, chunked',
  'chunked, identity',
  'identity, chunked',
  'identity',
  'chunk',
  '"chunked"',
  "'chunked'",
  'chunked\u000b',
  'chunked\u0000',
  'xchunked',
  'chunked;q=1',
  ' chunked',
  'chunked ',
  'ch\u0096nked',
  'chunked,',
  ',chunked',
];

const CL_VALUES = (length: number) => [
  String(length),
  `0${length}`,
  `+${length}`,
  `-${length}`,
  `${length},${length}`,
  `${length}, ${length}`,
  `${length} ${length}`,
  `0x${length.toString(16)}`,
  `${length}.0`,
  '',
  '99999999999999999999',
  '18446744073709551616',
  `${length}\u0000`,
];

const FRAMING_NAMES = [
  'Transfer-Encoding',
  'transfer-encoding',
  'Transfer_Encoding',
  'Transfer-Encoding ',
  ' Transfer-Encoding',
  'Transfer-Encodin',
  'Content-Length',
  'content-length',
  'Content_Length',
  'Content-Length ',
  'Connection',
  'Upgrade',
];

function value(rng: Rng): string {
  if (rng.chance(0.7)) return token(rng, 12);
  let out = '';
  const length = rng.int(16);
  for (let i = 0; i < length; i++) {
    out += rng.ok(0.85)
      ? String.fromCharCode(0x21 + rng.int(0x5e))
      : String.fromCharCode(rng.pick([0x20, 0x09, ...EDGE_BYTES]));
  }
  return out;
}

function fieldLines(rng: Rng, extra: string[]): string {
  const lines: string[] = [];
  const count = rng.int(5);
  for (let i = 0; i < count; i++) lines.push(`${token(rng)}:${ows(rng) || ' '}${value(rng)}`);
  if (rng.chance(0.3)) lines.push(`Host: ${token(rng)}.example`);
  for (const line of extra) lines.splice(rng.int(lines.length + 1), 0, line);
  if (rng.bad(0.05)) lines.push(`X-Fold: a${eol(rng)}${rng.pick([' ', '\t'])}b`);
  if (rng.bad(0.03)) lines.push(`${rng.pick(FRAMING_NAMES)}: ${value(rng)}`);
  return lines.map((line) => `${line}${eol(rng)}`).join('');
}

function chunkedBody(rng: Rng, body: string): string {
  let out = '';
  let at = 0;
  while (at < body.length) {
    const size = Math.min(body.length - at, 1 + rng.int(20));
    let sizeText = size.toString(16);
    if (rng.chance(0.05)) sizeText = sizeText.toUpperCase();
    if (rng.chance(0.03)) sizeText = `0${sizeText}`;
    if (rng.bad(0.02))
      sizeText = rng.pick([
        `${sizeText} `,
        ` ${sizeText}`,
        `${sizeText}\t`,
        `+${sizeText}`,
        `0x${sizeText}`,
      ]);
    if (rng.bad(0.02)) sizeText = (size + rng.pick([-1, 1])).toString(16);
    let ext = '';
    if (rng.chance(0.08))
      ext = rng.pick(
        [
          `;${token(rng)}`,
          `;${token(rng)}=${token(rng)}`,
          `;a="b c"`,
          ';a="b\\"c"',
          '; a=b',
          ';a =b',
          ';',
          `;a=${value(rng)}`,
        ].slice(0, rng.clean ? 4 : 8),
      );
    out += `${sizeText}${ext}${eol(rng)}${body.slice(at, at + size)}${rng.ok(0.98) ? '\r\n' : rng.pick(['\n', '', 'x\r\n'])}`;
    at += size;
  }
  out += `${rng.ok(0.95) ? '0' : rng.pick(['00', '0 ', '0;x=y', ''])}${eol(rng)}`;
  if (rng.chance(0.15)) out += `${token(rng)}: ${value(rng)}${eol(rng)}`;
  out += eol(rng);
  return out;
}

function bodyText(rng: Rng): string {
  let out = '';
  const length = rng.chance(0.4) ? 0 : rng.int(60);
  for (let i = 0; i < length; i++)
    out += String.fromCharCode(rng.chance(0.9) ? 0x20 + rng.int(0x5f) : rng.int(256));
  return out;
}

/** The framing part of a head and the body bytes that go with it. */
function framing(rng: Rng, body: string, response: boolean): { fields: string[]; body: string } {
  const choice = rng.int(rng.clean ? 70 : 100);
  if (choice < 30) return { fields: [`Content-Length: ${body.length}`], body };
  if (choice < 55) return { fields: [`Transfer-Encoding: chunked`], body: chunkedBody(rng, body) };
  if (choice < 70) return { fields: [], body: response ? body : '' };
  if (choice < 78) return { fields: [`Content-Length: ${rng.pick(CL_VALUES(body.length))}`], body };
  if (choice < 86)
    return {
      fields: [`Transfer-Encoding: ${rng.pick(TE_VALUES)}`],
      body: rng.chance(0.7) ? chunkedBody(rng, body) : body,
    };
  if (choice < 92) {
    const chunked = chunkedBody(rng, body);
    const te = `Transfer-Encoding: ${rng.pick(TE_VALUES)}`;
    const cl = `Content-Length: ${rng.chance(0.5) ? chunked.length : body.length}`;
    return { fields: rng.chance(0.5) ? [te, cl] : [cl, te], body: chunked };
  }
  if (choice < 96)
    return {
      fields: [
        `Content-Length: ${body.length}`,
        `Content-Length: ${rng.chance(0.5) ? body.length : body.length + 1}`,
      ],
      body,
    };
  return {
    fields: ['Transfer-Encoding: chunked', `Transfer-Encoding: ${rng.pick(TE_VALUES)}`],
    body: chunkedBody(rng, body),
  };
}

const METHODS = [
  'GET',
  'GET',
  'GET',
  'POST',
  'POST',
  'PUT',
  'HEAD',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'TRACE',
];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'];
const ODD_VERSIONS = [
  'HTTP/2.0',
  'HTTP/1.2',
  'HTTP/0.9',
  'http/1.1',
  'HTTP/1.10',
  'HTTP/1',
  'HTTP/11',
  'HTTP/1.1 ',
];

function target(rng: Rng): string {
  if (rng.bad(0.1))
    return rng.pick([
      '*',
      'http://a.example/x',
      'a.example:443',
      '/a#frag',
      '/\u00e9',
      '/a b',
      '/a\tb',
      '//',
      '/%00',
    ]);
  let out = '/';
  const length = rng.int(12);
  for (let i = 0; i < length; i++)
    out += String.fromCharCode(rng.ok(0.97) ? 0x21 + rng.int(0x5e) : rng.pick(EDGE_BYTES));
  // A fragment is never sent; llhttp and podrouter part ways on it (podrouter refuses it).
  return rng.clean ? out.replaceAll('#', '/') : out;
}

export function request(rng: Rng): string {
  const method = rng.ok(0.95)
    ? rng.pick(METHODS)
    : rng.pick([token(rng), 'G\u0000T', 'get', 'CONNECT', '']);
  const version = rng.ok(0.96) ? rng.pick(VERSIONS) : rng.pick(ODD_VERSIONS);
  const sp = () => (rng.ok(0.98) ? ' ' : rng.pick(['  ', '\t', '']));
  let { fields, body } = framing(rng, bodyText(rng), false);
  if (rng.clean && version === 'HTTP/1.0' && fields.some((f) => f.startsWith('Transfer'))) {
    body = bodyText(rng);
    fields = [`Content-Length: ${body.length}`];
  }
  if (rng.chance(0.08))
    fields.push(
      rng.pick([
        'Connection: close',
        'Connection: keep-alive',
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Connection: close, x-hop',
      ]),
    );
  const lead = rng.bad(0.02) ? rng.pick(['\r\n', '\n', ' ']) : '';
  return `${lead}${method}${sp()}${target(rng)}${sp()}${version}${eol(rng)}${fieldLines(rng, fields)}${eol(rng)}${body}`;
}

const STATUSES = [200, 200, 200, 201, 204, 301, 304, 404, 500, 100, 103, 101];

/** `head`: it answers a HEAD request; `last`: the last response of the stream. */
export function response(rng: Rng, head: boolean, last: boolean): string {
  const status = rng.ok(0.95)
    ? String(rng.pick(STATUSES.filter((s) => !rng.clean || s !== 101 || last)))
    : rng.pick(['99', '600', '2000', '20x', ' 200', '000', '999']);
  const version = rng.ok(0.97) ? rng.pick(VERSIONS) : rng.pick(ODD_VERSIONS);
  const reason = rng.ok(0.9)
    ? ` ${rng.pick(['OK', 'Not Found', 'x y', ''])}`
    : rng.pick(['', ' O\u0000K', ' \u00e9', ' a\tb']);
  let { fields, body } = framing(rng, bodyText(rng), true);
  if (rng.clean) {
    // Valid streams: no chunking on HTTP/1.0, no body where none may be, until-close last.
    if (
      (version === 'HTTP/1.0' && fields.some((f) => f.startsWith('Transfer'))) ||
      (fields.length === 0 && !last)
    )
      ({ fields, body } = { fields: [`Content-Length: ${body.length}`], body });
    if (head || /^(1..|204|304)$/.test(status)) body = '';
    if (/^(1..|204)$/.test(status)) fields = [];
  }
  if (rng.chance(0.08)) fields.push(rng.pick(['Connection: close', 'Connection: keep-alive']));
  return `${version} ${status}${reason}${eol(rng)}${fieldLines(rng, fields)}${eol(rng)}${body}`;
}

/** Overwrites, inserts or deletes a few bytes, preferring the edge bytes of the grammar. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let bytes = [...input];
  const edits = 1 + rng.int(3);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(bytes.length + 1);
    const byte = rng.chance(0.8) ? rng.pick(EDGE_BYTES) : rng.int(256);
    const kind = rng.int(4);
    if (kind === 0) bytes[at] = byte;
    else if (kind === 1) bytes.splice(at, 0, byte);
    else if (kind === 2) bytes.splice(at, 1);
    else {
      const length = 1 + rng.int(8);
      bytes = [...bytes.slice(0, at), ...bytes.slice(at, at + length), ...bytes.slice(at)];
    }
  }
  return Buffer.from(bytes);
}

export interface FuzzCase {
  readonly kind: 'request' | 'response';
  readonly bytes: Buffer;
  /** For responses: the methods of the requests they answer. */
  readonly methods: readonly string[];
}

/** One case: 1 to 3 messages in a stream, mutated half of the time. */
export function fuzzCase(rng: Rng): FuzzCase {
  rng.clean = rng.chance(0.5);
  const kind = rng.chance(0.5) ? 'request' : 'response';
  const count = 1 + rng.int(3);
  const methods =
    kind === 'response'
      ? Array.from({ length: count }, () => (rng.chance(0.15) ? 'HEAD' : 'GET'))
      : [];
  let text = '';
  let finals = 0;
  for (let i = 0; i < count; i++) {
    if (kind === 'request') text += request(rng);
    else {
      const next = response(rng, methods[finals] === 'HEAD', i === count - 1);
      if (!next.slice(9).startsWith('1')) finals++;
      text += next;
    }
  }
  let bytes: Buffer = Buffer.from(text, 'latin1');
  if (!rng.clean && rng.chance(0.5)) bytes = mutate(rng, bytes);
  return { kind, bytes, methods };
}
