import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';

/**
 * One plain JSON request to the API server with the kubeconfig's credentials and TLS. Used
 * where the generated clients get in the way: they serialize dates with millisecond
 * precision, and events.k8s.io wants MicroTime (six digits).
 */
export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
}

export async function kubeRequest(
  config: KubeConfig,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<KubeResponse> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const context = new RequestContext(`${cluster.server}${path}`, HttpMethod[method]);
  await config.applySecurityAuthentication(context);
  const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = contentType;
  const response = await fetch(context.getUrl(), {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    dispatcher: context.getDispatcher(),
    signal: AbortSignal.timeout(10_000),
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
