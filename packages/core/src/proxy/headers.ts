import type { IncomingMessage } from 'node:http';
import { isToken, isWritableValue } from '../http1/chars.ts';

/**
 * Header rewriting between client and upstream. Works on Node's flat raw header arrays
 * (`[name, value, name, value, …]`) so case and repeated headers survive.
 */

/** RFC 9110 §7.6.1 connection-specific fields, plus the legacy ones proxies still see. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  // Node's server already answered `100 Continue` to the client; the upstream hop sends the
  // body straight away (and undici refuses to send this header at all).
  'expect',
]);

/** Inbound headers that say who the client is: only a trusted proxy may set them. */
const CLIENT_ADDRESS = new Set(['forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip']);
const isForwardedX = (lower: string) => lower.startsWith('x-forwarded-');

/**
 * Fields a `Connection` header may not remove: the upstream needs them to route, frame and
 * authorise the request, and a client must not be able to hide them from it.
 */
const PROTECTED = new Set(['host', 'content-length', 'content-type', 'authorization', 'cookie']);

/** Headers podrouter itself sets for the upstream (identities). A client never sets them. */
const OWN_PREFIX = 'x-podrouter-';

/** `Connection` values that name no field: only the connection's own options. */
const NO_FIELDS = new Set(['keep-alive', 'close']);

/** Lower-case names listed in `Connection` (they are hop-by-hop too), or null. */
function connectionTokens(value: string | undefined): Set<string> | null {
  if (!value) return null;
  // What nearly every peer sends, and lists no field (the loop below would return null too).
  const n = value.length;
  if ((n === 10 || n === 5) && NO_FIELDS.has(value.toLowerCase())) return null;
  const tokens = new Set<string>();
  for (const token of value.split(',')) {
    // Optional whitespace is SP and HTAB only (RFC 9110 §5.6.3); String.trim() would also
    // drop NBSP and make `\xA0host` name Host.
    const name = token.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade')
      tokens.add(name);
  }
  return tokens.size === 0 ? null : tokens;
}

export interface UpstreamHeaderOptions {
  /** Keep `Connection: upgrade` and `Upgrade` (WebSocket handshakes). */
  readonly upgrade: boolean;
  /** Keep and extend inbound X-Forwarded-* (and keep Forwarded, X-Real-IP) instead of removing them. */
  readonly trustForwarded: boolean;
  /** Keep header names with `_` (nginx `underscores_in_headers`); dropped otherwise. */
  readonly underscores: boolean;
  /** Lower-case names of identity headers set by policy: removed from every inbound request. */
  readonly identity: ReadonlySet<string>;
  /** Inbound headers a policy wants removed (lower-case). */
  readonly strip?: ReadonlySet<string> | undefined;
  /** Headers a policy wants set (replacing any inbound value). */
  readonly set?: ReadonlyMap<string, string> | undefined;
}

export interface UpstreamFields {
  /** Flat `[name, value, …]`: the client's fields that may pass, the forwarded ones, the policy's. */
  readonly fields: string[];
  /**
   * How many leading entries are the client's fields exactly as the raw server's strict parser
   * read them (tokens, field values): an engine need not check those again. 0 for a request
   * from node:http (its parser vouches for less) or whose fields changed since.
   */
  readonly checked: number;
}

/**
 * A request read by podrouter's own server (server/raw-request.ts), told apart by shape so the
 * proxy does not depend on the server: its fields as the strict parser read them, and their
 * names lower-cased by position (a hook may have changed `rawHeaders` since).
 */
interface StrictlyParsedRequest {
  readonly fieldNames: readonly string[];
  readonly parsedHeaders: readonly string[];
}

const strictlyParsed = (req: IncomingMessage): StrictlyParsedRequest | undefined =>
  'parsedHeaders' in req ? (req as unknown as StrictlyParsedRequest) : undefined;

/**
 * The upstream request's fields: the client's that may pass, then the forwarded ones, then the
 * policy's `set`.
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  options: UpstreamHeaderOptions,
): UpstreamFields {
  const raw = req.rawHeaders;
  // The raw server's request has its names lower-cased already (by position), and the fields
  // as parsed to tell whether any changed since.
  const strict = strictlyParsed(req);
  const names = strict?.fieldNames;
  const parsed = strict?.parsedHeaders;
  let intact = parsed !== undefined && parsed.length === raw.length;
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let forwardedFor = '';
  let forwardedProto = '';
  let forwardedHost = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    // A name still where the parser read it has its lower-case form there; one a hook moved,
    // added or renamed is lower-cased afresh.
    let lower = name === parsed?.[i] ? (names?.[i >> 1] as string) : name.toLowerCase();
    if (lower.includes('_')) {
      if (!options.underscores) continue;
      // `X_Forwarded_For` means X-Forwarded-For to an app that maps both to one variable.
      lower = lower.replaceAll('_', '-');
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (listed?.has(lower) && !PROTECTED.has(lower)) continue;
    if (lower.startsWith(OWN_PREFIX) || options.identity.has(lower)) continue;
    if (options.strip?.has(lower) || options.set?.has(lower)) continue;
    if (isForwardedX(lower) || CLIENT_ADDRESS.has(lower)) {
      if (!options.trustForwarded || name.includes('_')) continue;
      if (lower === 'x-forwarded-for') {
        forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
        continue;
      }
      if (lower === 'x-forwarded-proto') {
        if (forwardedProto === '') forwardedProto = value;
        continue;
      }
      if (lower === 'x-forwarded-host') {
        if (forwardedHost === '') forwardedHost = value;
        continue;
      }
    }
    if (intact && (name !== parsed?.[i] || value !== parsed[i + 1])) intact = false;
    out.push(name, value);
  }
  const checked = intact ? out.length : 0;
  const client = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', forwardedFor === '' ? client : `${forwardedFor}, ${client}`);
  out.push('x-forwarded-proto', forwardedProto || ('encrypted' in req.socket ? 'https' : 'http'));
  const host = forwardedHost || req.headers.host;
  if (host) out.push('x-forwarded-host', host);
  if (options.upgrade) {
    out.push('connection', 'upgrade');
    if (req.headers.upgrade) out.push('upgrade', req.headers.upgrade);
  }
  if (options.set) for (const [name, value] of options.set) out.push(name, value);
  return { fields: out, checked };
}

/** HTTP header bytes are latin1, not UTF-8. */
const text = (value: Buffer | string | undefined): string =>
  typeof value === 'string' ? value : value === undefined ? '' : value.toString('latin1');

/** HOP_BY_HOP's first letters (char codes) by name length. */
const HOP_BY_HOP_STARTS: (Set<number> | undefined)[] = [];
for (const name of HOP_BY_HOP) {
  const starts = HOP_BY_HOP_STARTS[name.length] ?? new Set<number>();
  starts.add(name.charCodeAt(0));
  HOP_BY_HOP_STARTS[name.length] = starts;
}

/**
 * Whether `name` is one of HOP_BY_HOP, without lower-casing the names that cannot be (most of
 * a response's): only a name of a hop-by-hop length whose first letter matches is compared.
 */
function isHopByHop(name: string): boolean {
  const starts = HOP_BY_HOP_STARTS[name.length];
  if (starts === undefined || !starts.has(name.charCodeAt(0) | 0x20)) return false;
  return HOP_BY_HOP.has(name.toLowerCase());
}

/** Response headers for the client: upstream's, minus hop-by-hop ones. */
export function clientResponseHeaders(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = [];
  // Several Connection lines are one list (RFC 9110 §5.3): a field named in any is dropped.
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(raw[i]);
    if (isHopByHop(name)) {
      if (name.length === 10 && name.toLowerCase() === 'connection') {
        const value = text(raw[i + 1]);
        connection = connection === undefined ? value : `${connection},${value}`;
      }
      continue;
    }
    out.push(name, text(raw[i + 1]));
  }
  const listed = connectionTokens(connection);
  if (listed === null) return out;
  // Rare: Connection names fields; they go too.
  let kept = 0;
  for (let i = 0; i < out.length; i += 2) {
    const name = out[i] as string;
    if (listed.has(name.toLowerCase())) continue;
    out[kept++] = name;
    out[kept++] = out[i + 1] as string;
  }
  out.length = kept;
  return out;
}

/**
 * The name of the first header in `fields` that cannot go into a head as it is (a name that
 * is not a token, a value with CR, LF, NUL or another control, or no value at all: `undefined`
 * or `null` from a JavaScript hook, which node:http refuses and the raw server would leave
 * out), or undefined. For headers the policy sets (hooks, Secret-derived identities): the
 * router writes some heads itself, raw, and one such value there would split the head.
 */
export function invalidHeader(
  fields: Iterable<readonly [string, string]> | undefined,
): string | undefined {
  if (fields === undefined) return undefined;
  for (const [name, value] of fields) {
    if (value === undefined || value === null || !isToken(name) || !isWritableValue(String(value)))
      return name;
  }
  return undefined;
}
