/**
 * Byte classes of RFC 9110/9112, as 256-entry lookup tables: the parser checks every byte of
 * a head against one of these, so a table lookup is the whole cost of being strict.
 */

function table(test: (byte: number) => boolean): Uint8Array {
  const out = new Uint8Array(256);
  for (let byte = 0; byte < 256; byte++) out[byte] = test(byte) ? 1 : 0;
  return out;
}

const isAlnum = (byte: number) =>
  (byte >= 0x30 && byte <= 0x39) ||
  (byte >= 0x41 && byte <= 0x5a) ||
  (byte >= 0x61 && byte <= 0x7a);

/** RFC 9110 §5.6.2 tchar: header names, methods, chunk-extension names, transfer codings. */
export const TCHAR = table(
  (byte) => isAlnum(byte) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(byte)),
);

/** field-vchar (VCHAR / obs-text): a field value's bytes other than SP and HTAB. */
export const FIELD_VCHAR = table((byte) => (byte > 0x20 && byte < 0x7f) || byte >= 0x80);

/**
 * request-target bytes: visible ASCII only. Whitespace, controls and bytes ≥ 0x80 are refused
 * (a raw UTF-8 path has to be percent-encoded), so the target can never hide a second token;
 * `#` too: a fragment is never sent (RFC 9112 §3.2), and parsers disagree on what follows it.
 */
export const TARGET_CHAR = table((byte) => byte > 0x20 && byte < 0x7f && byte !== 0x23);

/** qdtext of a quoted-string (RFC 9110 §5.6.4), for chunk-extension values. */
export const QDTEXT = table(
  (byte) =>
    byte === 0x09 ||
    byte === 0x20 ||
    byte === 0x21 ||
    (byte >= 0x23 && byte <= 0x5b) ||
    (byte >= 0x5d && byte <= 0x7e) ||
    byte >= 0x80,
);

/** Value of a hex digit, or -1. */
export const HEX = (() => {
  const out = new Int8Array(256).fill(-1);
  for (let digit = 0; digit < 10; digit++) out[0x30 + digit] = digit;
  for (let digit = 0; digit < 6; digit++) {
    out[0x41 + digit] = 10 + digit;
    out[0x61 + digit] = 10 + digit;
  }
  return out;
})();

/** A header name or method as RFC 9110 allows it: one or more tchar. */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    if (TCHAR[text.charCodeAt(i)] !== 1) return false;
  }
  return true;
}

/**
 * A field value that is safe to write on the wire: no CR, LF, NUL or other controls (HTAB
 * allowed), no leading or trailing whitespace, nothing above 0xFF (written as latin1).
 */
export function isFieldValue(text: string): boolean {
  const last = text.length - 1;
  for (let i = 0; i <= last; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) return false;
    if (FIELD_VCHAR[code] === 1) continue;
    if ((code === 0x20 || code === 0x09) && i !== 0 && i !== last) continue;
    return false;
  }
  return true;
}

/** An origin-form or absolute-form target safe to put in a request line. */
export function isRequestTarget(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff || TARGET_CHAR[code] !== 1) return false;
  }
  return true;
}

/**
 * A header value node:http would write (it throws ERR_INVALID_CHAR otherwise): HTAB, SP,
 * VCHAR and obs-text only, so never CR, LF or NUL.
 */
export function isWritableValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff || code === 0x7f || (code < 0x20 && code !== 0x09)) return false;
  }
  return true;
}
