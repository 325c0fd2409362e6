import { fetch } from 'undici';
import { KubeApiError } from '../errors.ts';
import type { KubeConnection } from './connection.ts';

/**
 * Plain JSON requests to the API server. The generated clients of client-node are not used
 * on the router's path: they cost their import (see connection.ts), serialize dates with
 * millisecond precision where events.k8s.io wants MicroTime, and turn every object into
 * class instances the router drops again.
 */
export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export async function kubeRequest(
  connection: KubeConnection,
  method: Method,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<KubeResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const { headers, dispatcher } = await connection.authorize();
  const response = await fetch(`${connection.server}${path}`, {
    method,
    headers: {
      ...headers,
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': contentType } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    dispatcher,
    signal: options.signal ? AbortSignal.any([timeout, options.signal]) : timeout,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (a proxy in between, an HTML error page): keep the text for the message.
  }
  return { status: response.status, body: parsed };
}

/** The `message` of a Kubernetes Status, or the body as text. */
export function statusMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body) {
    return String((body as { message: unknown }).message);
  }
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200);
}

/** A Status body (or any error answer) as a typed error. */
export function apiError(status: number, body: unknown, doing: string): KubeApiError {
  const reason =
    typeof body === 'object' && body !== null && 'reason' in body
      ? String((body as { reason: unknown }).reason)
      : '';
  return new KubeApiError(status, reason, `${doing}: HTTP ${status} ${statusMessage(body)}`);
}

/** A request that did not get an answer (connection refused, TLS, timeout). */
export function unreachable(error: unknown, doing: string): KubeApiError {
  const cause = error instanceof Error ? error : new Error(String(error));
  const detail = (cause.cause as { code?: unknown } | undefined)?.code ?? cause.name;
  return new KubeApiError(0, 'Unreachable', `${doing}: ${String(detail)}: ${cause.message}`, {
    cause,
  });
}
