/**
 * A finished span as plain data: what HopTracer keeps of a sampled request, and all an OTLP
 * encoder needs. No SDK span objects, no attribute validation: podrouter sets every
 * attribute itself, from values whose types it knows.
 */
import { keyField } from './proto-writer.ts';

/** OTLP's numbering (the API's SpanKind + 1). */
export const OtlpKind = { SERVER: 2, CLIENT: 3 } as const;
/** OTLP status codes. */
export const OtlpStatus = { UNSET: 0, ERROR: 2 } as const;

export type AttributeValue = string | number | boolean;

/**
 * An attribute's key with its OTLP protobuf bytes (the KeyValue's key field and the value's
 * tag), encoded once per process: podrouter's keys are module constants, so a span copies
 * the bytes instead of looking them up or encoding them.
 */
export interface AttributeKey {
  readonly name: string;
  readonly field: Uint8Array;
}

export const attributeKey = (name: string): AttributeKey => ({ name, field: keyField(name) });

/** Flat `[key, value, key, value, …]`: one array per span instead of an object per attribute. */
export type AttributeList = (AttributeKey | AttributeValue)[];

/**
 * Attributes many spans share because they come from one object of the route table (a
 * route's, an endpoint's), with their protobuf encoding (span `attributes` KeyValues) made
 * once: a span copies the bytes (`attributeBlock` in otlp-protobuf.ts).
 */
export interface AttributeBlock {
  readonly list: AttributeList;
  readonly encoded: Uint8Array;
}

export interface SpanEvent {
  readonly name: string;
  /** Epoch milliseconds (fractional). */
  readonly time: number;
  readonly attributes: AttributeList;
}

export interface SpanData {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  /** The W3C tracestate carried with the trace ('' for none). */
  readonly traceState: string;
  readonly name: string;
  readonly kind: number;
  /** Epoch milliseconds (fractional). */
  readonly start: number;
  readonly end: number;
  readonly attributes: AttributeList;
  /** More attributes, after `attributes` (no key in both). */
  readonly blocks: readonly AttributeBlock[];
  readonly events: readonly SpanEvent[];
  readonly statusCode: number;
  /** '' for none. */
  readonly statusMessage: string;
  /** OTLP `flags`: W3C trace flags, with "has is-remote" and "parent is remote" bits. */
  readonly flags: number;
}

/** The OTLP `flags` of a span: its trace flags, and whether its parent came from another process. */
export const spanFlags = (sampled: boolean, remoteParent: boolean): number =>
  (sampled ? 1 : 0) | 0x100 | (remoteParent ? 0x200 : 0);
