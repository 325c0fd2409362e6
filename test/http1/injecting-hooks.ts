import { defineHooks } from '@podrouter/policy/hook-api';

/**
 * A hooks module that puts CR/LF into the header names and values it hands the router, as a
 * buggy hook or a Secret-derived value would (test/http1/client-hardening.test.ts). The path
 * names what it sets; on any other path it does nothing.
 */
const INJECTED = 'v\r\nX-Injected: 1';

export default defineHooks([
  {
    name: 'injector',
    phase: 'before-proxy',
    run(context) {
      const path = context.req.url ?? '';
      if (path.endsWith('/inject-response')) context.responseHeaders.set('x-a', INJECTED);
      else if (path.endsWith('/inject-response-name'))
        context.responseHeaders.set('x-a\r\nX-Injected', '1');
      else if (path.endsWith('/inject-upstream')) context.upstreamHeaders.set('x-b', INJECTED);
      else if (path.endsWith('/upstream-te'))
        // No CR or LF, but framing is the engine's: neither engine writes it.
        context.upstreamHeaders.set('transfer-encoding', 'chunked');
      else if (path.endsWith('/inject-nul')) context.responseHeaders.set('x-a', 'a\0b');
      else if (path.endsWith('/inject-late-response'))
        // After the handler checked the maps: only the engine sees this value.
        queueMicrotask(() => context.responseHeaders.set('x-a', INJECTED));
      else if (path.endsWith('/inject-request-field')) {
        // The client's own field, changed in the request after the strict parser read it.
        const raw = context.req.rawHeaders;
        for (let i = 0; i < raw.length; i += 2)
          if (raw[i]?.toLowerCase() === 'x-client') raw[i + 1] = INJECTED;
      } else if (path.endsWith('/inject-host-copy')) {
        // The request's parsed Host changed (the client's fields untouched): the router's own
        // X-Forwarded-Host is made from it, after the fields the strict parser vouches for.
        context.req.headers.host = INJECTED;
      } else if (path.endsWith('/drop-first-field')) {
        // Removes the client's first field: the ones after it move up a position.
        context.req.rawHeaders.splice(0, 2);
      } else if (path.endsWith('/array-value'))
        // A JavaScript hook's list for a field (the map's type says string): written joined.
        context.responseHeaders.set('x-list', ['a=1', 'b=2'] as unknown as string);
      else if (path.endsWith('/inject-late-object')) {
        // After the handler's check, a value that is not a string: its text splits the head.
        const value = { toString: () => INJECTED };
        queueMicrotask(() => context.responseHeaders.set('x-a', value as unknown as string));
      } else if (path.endsWith('/late-undefined')) {
        queueMicrotask(() => context.responseHeaders.set('x-a', undefined as unknown as string));
      } else if (path.endsWith('/inject-request-object')) {
        // The client's field given an object for a value: its text has CR/LF.
        const raw = context.req.rawHeaders;
        const value = { toString: () => INJECTED } as unknown as string;
        for (let i = 0; i < raw.length; i += 2)
          if (raw[i]?.toLowerCase() === 'x-client') raw[i + 1] = value;
      } else if (path.endsWith('/refuse')) return { status: 401, title: 'Refused' };
      else if (path.endsWith('/answer-undefined'))
        // A hook bug JavaScript allows (node:http's writeHead would throw on it after taking
        // the status; the raw server would leave the field out): refused like CR/LF.
        return {
          status: 401,
          title: 'Refused',
          headers: { 'x-c': undefined as unknown as string },
        };
      else if (path.endsWith('/inject-answer'))
        return { status: 401, title: 'Refused', headers: { 'x-c': INJECTED } };
      return 'continue';
    },
  },
]);
