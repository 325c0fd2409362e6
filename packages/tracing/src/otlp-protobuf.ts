import { ProtoWriter, varintSize } from './proto-writer.ts';
import type {
  AttributeBlock,
  AttributeKey,
  AttributeList,
  AttributeValue,
  SpanData,
} from './span-data.ts';

/**
 * OTLP trace protobuf (opentelemetry-proto `ExportTraceServiceRequest`), written straight
 * from SpanData: each span is encoded once, when it ends, into the batch it will be sent
 * in; an export only puts the resource and scope in front. Field numbers are those of
 * `opentelemetry/proto/trace/v1/trace.proto` and `common/v1/common.proto`; the differential
 * test decodes the result with OpenTelemetry's generated decoder.
 */

// Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
const KEY_VALUE_KEY = 0x0a;
const KEY_VALUE_VALUE = 0x12;
const ANY_STRING = 0x0a;
const ANY_BOOL = 0x10;
const ANY_INT = 0x18;
const ANY_DOUBLE = 0x21;
const ANY_ARRAY = 0x2a;
const ARRAY_VALUES = 0x0a;

export type ResourceValue = AttributeValue | readonly AttributeValue[];

function anyValue(w: ProtoWriter, value: ResourceValue): void {
  if (typeof value === 'string') {
    w.tag(ANY_STRING);
    w.string(value);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
      w.tag(ANY_INT);
      w.int64(value);
    } else {
      w.tag(ANY_DOUBLE);
      w.double(value);
    }
  } else if (typeof value === 'boolean') {
    w.tag(ANY_BOOL);
    w.tag(value ? 1 : 0);
  } else if (Array.isArray(value)) {
    w.tag(ANY_ARRAY);
    const array = w.begin();
    for (const item of value) {
      w.tag(ARRAY_VALUES);
      const mark = w.begin();
      anyValue(w, item);
      w.end(mark);
    }
    w.end(array);
  }
}

function keyValue(w: ProtoWriter, tag: number, key: string, value: ResourceValue): void {
  w.tag(tag);
  const kv = w.begin();
  w.tag(KEY_VALUE_KEY);
  w.string(key);
  w.tag(KEY_VALUE_VALUE);
  const mark = w.begin();
  anyValue(w, value);
  w.end(mark);
  w.end(kv);
}

function attributes(w: ProtoWriter, tag: number, list: AttributeList): void {
  for (let i = 0; i < list.length; i += 2) {
    const key = list[i] as AttributeKey;
    const value = list[i + 1] as AttributeValue;
    // As the SDK's setAttribute: a missing value (a custom hook's answer without a title) is
    // no attribute.
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') w.stringKeyValue(tag, key.field, value);
    else if (typeof value === 'number' && value >= 0 && value < 2 ** 31 && Number.isInteger(value))
      w.intKeyValue(tag, key.field, value);
    else keyValue(w, tag, key.name, value);
  }
}

const SPAN_ATTRIBUTES = 0x4a;

/** `list` with its encoding as span attributes, for many spans to copy. */
export function attributeBlock(list: AttributeList): AttributeBlock {
  const w = new ProtoWriter(256);
  attributes(w, SPAN_ATTRIBUTES, list);
  return { list, encoded: Uint8Array.from(w.buf.subarray(0, w.pos)) };
}

/** One span as a `ScopeSpans.spans` entry (field 2), appended to `w`. */
export function writeSpan(w: ProtoWriter, span: SpanData): void {
  w.tag(0x12);
  const mark = w.begin();
  w.tag(0x0a);
  w.hexBytes(span.traceId);
  w.tag(0x12);
  w.hexBytes(span.spanId);
  if (span.traceState !== '') {
    w.tag(0x1a);
    w.string(span.traceState);
  }
  if (span.parentSpanId !== '') {
    w.tag(0x22);
    w.hexBytes(span.parentSpanId);
  }
  w.tag(0x2a);
  w.string(span.name);
  w.tag(0x30);
  w.varint(span.kind);
  w.tag(0x39);
  w.fixed64Nanos(span.start);
  w.tag(0x41);
  w.fixed64Nanos(span.end);
  attributes(w, SPAN_ATTRIBUTES, span.attributes);
  for (const block of span.blocks) w.copy(block.encoded);
  for (const event of span.events) {
    w.tag(0x5a);
    const at = w.begin();
    w.tag(0x09);
    w.fixed64Nanos(event.time);
    w.tag(0x12);
    w.string(event.name);
    attributes(w, 0x1a, event.attributes);
    w.end(at);
  }
  w.tag(0x7a);
  const status = w.begin();
  if (span.statusMessage !== '') {
    w.tag(0x12);
    w.string(span.statusMessage);
  }
  w.tag(0x18);
  w.varint(span.statusCode);
  w.end(status);
  // Field 16 (fixed32) needs a two-byte tag.
  w.tag(0x85);
  w.tag(0x01);
  w.fixed32(span.flags);
  w.end(mark);
}

export interface Scope {
  readonly name: string;
  readonly version: string;
}

/**
 * What goes in front of a batch's spans: the `ResourceSpans` and `ScopeSpans` heads, whose
 * lengths depend on the batch. Built once; `frame` writes it into the room a batch keeps.
 */
export class RequestHead {
  /** `resource` (field 1 of ResourceSpans), with its tag. */
  readonly #resource: Buffer;
  /** `scope` (field 1 of ScopeSpans), with its tag. */
  readonly #scope: Buffer;
  /** Bytes a batch keeps free in front of its spans. */
  readonly room: number;

  constructor(resource: Record<string, ResourceValue>, scope: Scope) {
    const r = new ProtoWriter(1024);
    r.tag(0x0a);
    const resourceMark = r.begin();
    for (const key in resource) keyValue(r, 0x0a, key, resource[key] as ResourceValue);
    r.end(resourceMark);
    this.#resource = Buffer.from(r.buf.subarray(0, r.pos));
    const s = new ProtoWriter(256);
    s.tag(0x0a);
    const scopeMark = s.begin();
    s.tag(0x0a);
    s.string(scope.name);
    s.tag(0x12);
    s.string(scope.version);
    s.end(scopeMark);
    this.#scope = Buffer.from(s.buf.subarray(0, s.pos));
    this.room = 1 + 5 + this.#resource.length + 1 + 5 + this.#scope.length;
  }

  /**
   * The whole `ExportTraceServiceRequest` for spans written at `[room, end)` of `buf`: the
   * head is written right before them, and the request is a view of `buf`, not a copy.
   */
  frame(buf: Buffer, end: number): Buffer {
    const spans = end - this.room;
    const scopeSpans = this.#scope.length + spans;
    const resourceSpans = this.#resource.length + 1 + varintSize(scopeSpans) + scopeSpans;
    let at = this.room - this.#scope.length;
    this.#scope.copy(buf, at);
    at -= varintSize(scopeSpans);
    writeVarintAt(buf, at, scopeSpans);
    buf[--at] = 0x12;
    at -= this.#resource.length;
    this.#resource.copy(buf, at);
    at -= varintSize(resourceSpans);
    writeVarintAt(buf, at, resourceSpans);
    buf[--at] = 0x0a;
    return buf.subarray(at, end);
  }
}

function writeVarintAt(buf: Buffer, at: number, value: number): void {
  let v = value;
  let pos = at;
  while (v > 127) {
    buf[pos++] = (v & 127) | 0x80;
    v >>>= 7;
  }
  buf[pos] = v;
}
