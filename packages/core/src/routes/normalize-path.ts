/**
 * The one path normaliser of the request path. Runs before matching, and the Pod receives
 * its output, so a route's prefix is exactly what the Pod is asked for: `/public/../internal`
 * can neither match `/public` nor reach a Pod that resolves dot segments itself.
 *
 * RFC 3986 §6.2.2: percent-encoded unreserved characters are decoded (`%2e` → `.`, `%7E` →
 * `~`), other escapes are kept with upper-case hex digits, and dot segments are removed
 * (§5.2.4). Options follow Envoy's `merge_slashes` and `path_with_escaped_slashes_action`.
 * The query string is not this function's business: pass the path alone.
 */

export interface PathOptions {
  /** Collapse runs of `/` into one (nginx `merge_slashes`, Envoy `merge_slashes`). */
  readonly mergeSlashes: boolean;
  /**
   * `reject`: `%2F`, `%5C` and `\` make the path invalid (a Pod that decodes them before
   * routing would see segments the router did not). `keep`: they pass unchanged, as data.
   */
  readonly escapedSlashes: 'reject' | 'keep';
}

export type PathResult =
  | { readonly ok: true; readonly path: string }
  | {
      readonly ok: false;
      readonly reason: 'not-absolute' | 'above-root' | 'escaped-slash' | 'bad-escape' | 'bad-char';
    };

const HEX = '0123456789ABCDEF';

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    (code >= 48 && code <= 57) ||
    code === 45 ||
    code === 46 ||
    code === 95 ||
    code === 126
  );
}

/**
 * RFC 3986 pchar plus `/`, as they may appear raw in a path: unreserved, sub-delims, `:`,
 * `@`, `/`, and `%` (checked separately). Anything else is escaped or refused below, so
 * every path the Pod gets is plain, printable ASCII.
 */
const PATH_CHAR = (() => {
  const table = new Uint8Array(128);
  const allowed =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%";
  for (let i = 0; i < allowed.length; i++) table[allowed.charCodeAt(i)] = 1;
  return table;
})();

/** Fast check: a path with no `%`, no `.` segment, no `//` and only plain characters. */
function isAlreadyNormal(path: string, mergeSlashes: boolean): boolean {
  let previous = 47;
  for (let i = 1; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code >= 128 || PATH_CHAR[code] !== 1 || code === 37 /* % */) return false;
    if (code === 46 /* . */ && previous === 47) return false;
    if (code === 47 && previous === 47 && mergeSlashes) return false;
    previous = code;
  }
  return true;
}

export function normalizePath(path: string, options: PathOptions): PathResult {
  if (path.charCodeAt(0) !== 47 /* / */) return { ok: false, reason: 'not-absolute' };
  if (isAlreadyNormal(path, options.mergeSlashes)) return { ok: true, path };

  // 1. Escapes: decode unreserved ones, normalise the hex case of the rest.
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 37 /* % */) {
      const high = hexValue(path.charCodeAt(i + 1));
      const low = hexValue(path.charCodeAt(i + 2));
      if (high < 0 || low < 0) return { ok: false, reason: 'bad-escape' };
      const byte = high * 16 + low;
      i += 2;
      if (byte === 0x2f || byte === 0x5c) {
        if (options.escapedSlashes === 'reject') return { ok: false, reason: 'escaped-slash' };
      } else if (isUnreserved(byte)) {
        decoded += String.fromCharCode(byte);
        continue;
      }
      decoded += `%${HEX[high]}${HEX[low]}`;
      continue;
    }
    if (code === 92 /* \ */) {
      if (options.escapedSlashes === 'reject') return { ok: false, reason: 'escaped-slash' };
      decoded += '%5C';
      continue;
    }
    if (code < 128 && PATH_CHAR[code] === 1) {
      decoded += path[i];
      continue;
    }
    // Controls and `#` (a fragment has no place in a request target) are errors; other
    // characters a URI may not hold raw (`"`, `{`, bytes of UTF-8 text) travel escaped.
    if (code <= 0x20 || code === 0x7f || code === 35 /* # */ || code > 0xff)
      return { ok: false, reason: 'bad-char' };
    decoded += `%${HEX[code >> 4]}${HEX[code & 15]}`;
  }

  // 2. Segments: drop `.`, pop on `..`, refuse to climb above the root.
  const segments = decoded.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const segment = segments[i] as string;
    if (segment === '.' || segment === '..') {
      if (segment === '..') {
        if (out.length === 0) return { ok: false, reason: 'above-root' };
        out.pop();
      }
      // `/a/.` and `/a/b/..` name a directory: keep the trailing slash (RFC 3986 §5.2.4).
      if (i === last) out.push('');
      continue;
    }
    if (segment === '' && options.mergeSlashes && i !== last) continue;
    out.push(segment);
  }
  let result = `/${out.join('/')}`;
  if (options.mergeSlashes) result = result.replace(/\/{2,}/g, '/');
  return { ok: true, path: result };
}
