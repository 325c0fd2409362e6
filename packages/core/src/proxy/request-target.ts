import type { IncomingMessage } from 'node:http';

/**
 * RFC 9112 §3.2.2: a request may name its target in absolute form
 * (`GET http://api.example.com/items HTTP/1.1`), and then its authority, not the Host
 * header, says where it goes. Such a request is rewritten to origin form with a matching
 * Host, so routing and the upstream see what they see for every other request.
 * Returns false when the target is absolute but not a usable http(s) URL.
 */
export function toOriginForm(req: IncomingMessage): boolean {
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') return true;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  if ((target.protocol !== 'http:' && target.protocol !== 'https:') || target.host === '')
    return false;
  req.url = `${target.pathname}${target.search}`;
  req.headers.host = target.host;
  const raw = req.rawHeaders;
  let replaced = false;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'host') {
      raw[i + 1] = target.host;
      replaced = true;
    }
  }
  if (!replaced) raw.push('Host', target.host);
  return true;
}
