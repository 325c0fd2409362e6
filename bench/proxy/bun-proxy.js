// A reference point: Bun.serve + fetch, the smallest proxy on Bun (run by the `bun` binary
// of the npm package @oven/bun-linux-x64). Plain JavaScript: the TypeScript checks of this
// repository know nothing of the `Bun` global.
//
//   bun bench/proxy/bun-proxy.js PORT http://UPSTREAM:PORT
const [port = '0', upstream = ''] = process.argv.slice(2);
globalThis.Bun.serve({
  port: Number(port),
  hostname: '127.0.0.1',
  fetch(request) {
    const url = new URL(request.url);
    return fetch(`${upstream}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
    });
  },
});
