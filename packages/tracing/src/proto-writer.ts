/**
 * The few protobuf wire primitives an OTLP trace export needs, into one growing buffer.
 * Length-delimited fields reserve one byte for their length and move their body when it
 * turns out longer than 127 bytes (rare below a span), so nothing is measured twice.
 */

const TWO_32 = 4294967296;

/**
 * `seconds` × 10^9 as 32-bit halves, for the last whole second written: the spans of a
 * batch end within a few seconds, so the 64-bit product is assembled about once a second.
 */
let lastSeconds = Number.NaN;
let lastLow = 0;
let lastHigh = 0;

function secondsInNanos(seconds: number): void {
  const low16 = (seconds & 0xffff) * 1e9; // < 2^46
  const high16 = Math.floor(seconds / 65536) * 1e9; // × 2^16 below
  const lowSum = (low16 % TWO_32) + (high16 % 65536) * 65536;
  lastLow = lowSum % TWO_32;
  lastHigh =
    (Math.floor(low16 / TWO_32) + Math.floor(high16 / 65536) + Math.floor(lowSum / TWO_32)) %
    TWO_32;
  lastSeconds = seconds;
}

export class ProtoWriter {
  buf: Buffer;
  pos: number;

  /** `buffer`: room to write into (a recycled one), else `size` bytes are allocated. */
  constructor(size = 16384, reserve = 0, buffer?: Buffer) {
    this.buf = buffer ?? Buffer.allocUnsafe(size);
    this.pos = reserve;
  }

  ensure(extra: number): void {
    const needed = this.pos + extra;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** An unsigned varint below 2^53 (tags, lengths, non-negative int64). */
  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    let v = value;
    while (v >= 0x80000000) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v > 127) {
      buf[pos++] = (v & 127) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** A signed int64 varint: negative numbers take ten bytes (two's complement). */
  int64(value: number): void {
    if (value >= 0) {
      this.varint(value);
      return;
    }
    this.ensure(10);
    let low = (value % TWO_32) >>> 0;
    let high = Math.floor(value / TWO_32) >>> 0;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (low & 127) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    this.buf[this.pos++] = low & 1;
  }

  /** A tag byte for field numbers below 16 (every tag OTLP traces use but `flags`). */
  tag(byte: number): void {
    this.ensure(1);
    this.buf[this.pos++] = byte;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /**
   * Epoch milliseconds (fractional, as `performance.timeOrigin + performance.now()`) as
   * fixed64 nanoseconds, exactly: the 64-bit product is assembled from 32-bit halves.
   */
  fixed64Nanos(epochMs: number): void {
    const seconds = Math.floor(epochMs / 1000);
    const nanos = Math.round((epochMs - seconds * 1000) * 1e6);
    if (seconds !== lastSeconds) secondsInNanos(seconds);
    // nanos ≤ 10^9: at most one carry.
    let low = lastLow + nanos;
    let high = lastHigh;
    if (low >= TWO_32) {
      low -= TWO_32;
      high++;
    }
    this.ensure(8);
    const buf = this.buf;
    const pos = this.pos;
    buf[pos] = low & 0xff;
    buf[pos + 1] = (low >>> 8) & 0xff;
    buf[pos + 2] = (low >>> 16) & 0xff;
    buf[pos + 3] = low >>> 24;
    buf[pos + 4] = high & 0xff;
    buf[pos + 5] = (high >>> 8) & 0xff;
    buf[pos + 6] = (high >>> 16) & 0xff;
    buf[pos + 7] = high >>> 24;
    this.pos = pos + 8;
  }

  /** A length-prefixed UTF-8 string. */
  string(value: string): void {
    const length = value.length;
    // ASCII is copied char by char (the usual case: header values are latin1 at most).
    this.ensure(length * 3 + 5);
    const buf = this.buf;
    if (length < 128) {
      const start = this.pos + 1;
      let pos = start;
      for (let i = 0; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code > 127) {
          this.#utf8(value);
          return;
        }
        buf[pos++] = code;
      }
      buf[this.pos] = length;
      this.pos = pos;
      return;
    }
    this.#utf8(value);
  }

  #utf8(value: string): void {
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
  }

  /**
   * A `KeyValue` (tag `tag`) whose key is given pre-encoded (`keyField`: the key field and
   * the value's tag, see `keyField`) and whose value is a string: in one pass when the
   * string is short ASCII (nearly always), else through the general path.
   */
  stringKeyValue(tag: number, keyField: Uint8Array, value: string): void {
    const length = value.length;
    const keyLength = keyField.length;
    // KeyValue length = key field + AnyValue length byte + AnyValue (tag, length, bytes).
    const total = keyLength + 3 + length;
    if (total < 128) {
      this.ensure(total + 2);
      const buf = this.buf;
      let pos = this.pos;
      buf[pos++] = tag;
      buf[pos++] = total;
      // One copy (memmove) beats a byte loop from about ten bytes; keys are 15–30.
      buf.set(keyField, pos);
      pos += keyLength;
      buf[pos++] = length + 2;
      buf[pos++] = 0x0a;
      buf[pos++] = length;
      for (let i = 0; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code > 127) {
          this.#stringKeyValueSlow(tag, keyField, value);
          return;
        }
        buf[pos++] = code;
      }
      this.pos = pos;
      return;
    }
    this.#stringKeyValueSlow(tag, keyField, value);
  }

  #stringKeyValueSlow(tag: number, keyField: Uint8Array, value: string): void {
    this.tag(tag);
    const kv = this.begin();
    this.copy(keyField);
    const any = this.begin();
    this.tag(0x0a);
    this.string(value);
    this.end(any);
    this.end(kv);
  }

  /** A `KeyValue` with a non-negative integer value below 2^31, as `stringKeyValue`. */
  intKeyValue(tag: number, keyField: Uint8Array, value: number): void {
    const size = varintSize(value);
    const total = keyField.length + 2 + size;
    this.ensure(total + 2);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = tag;
    buf[pos++] = total;
    buf.set(keyField, pos);
    pos += keyField.length;
    buf[pos++] = 1 + size;
    buf[pos++] = 0x18;
    this.pos = pos;
    this.varint(value);
  }

  /** Bytes as they are (already encoded fields), in one copy. */
  copy(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A length-prefixed run of bytes given as lower-case hex (trace and span ids). */
  hexBytes(hex: string): void {
    const bytes = hex.length >>> 1;
    this.ensure(bytes + 1);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = bytes;
    // Ids are 16 or 32 lower-case hex digits (checked where they come in): decoded here
    // without Buffer.write's encoding dispatch, and without branches (random digits would
    // mispredict them): '0'–'9' are 0x30–0x39, 'a'–'f' 0x61–0x66, so a digit's value is its
    // low four bits, plus 9 when bit 6 is set.
    for (let i = 0; i < hex.length; i += 2) {
      const high = hex.charCodeAt(i);
      const low = hex.charCodeAt(i + 1);
      buf[pos++] = (((high & 15) + 9 * (high >> 6)) << 4) | ((low & 15) + 9 * (low >> 6));
    }
    this.pos = pos;
  }

  /** Starts a length-delimited body; give the result to `end`. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 128) {
      this.buf[mark] = length;
      return;
    }
    const size = length < 16384 ? 2 : length < 2097152 ? 3 : length < 268435456 ? 4 : 5;
    this.ensure(size - 1);
    this.buf.copyWithin(mark + size, mark + 1, this.pos);
    this.pos += size - 1;
    let v = length;
    let at = mark;
    while (v > 127) {
      this.buf[at++] = (v & 127) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
  }
}

/** Bytes a varint of `value` takes. */
export const varintSize = (value: number): number =>
  value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : value < 268435456 ? 4 : 5;

/**
 * The start of a `KeyValue` body for `key`: its key field (tag 1, length, UTF-8) and the
 * value's tag (field 2, length-delimited).
 */
export function keyField(key: string): Uint8Array {
  const w = new ProtoWriter(key.length * 3 + 8);
  w.tag(0x0a);
  w.string(key);
  w.tag(0x12);
  return Uint8Array.from(w.buf.subarray(0, w.pos));
}
