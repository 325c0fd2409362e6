// One HTTPS request from inside the cluster's network namespace, for the kube TLS suite:
// `tls-probe.ts PORT SNI CA_FILE [PATH]` prints one JSON line with the status, the body, the
// certificate's subjectAltName and SHA-256 fingerprint, or the error.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';

const [port = '443', servername = '', caFile = '', path = '/'] = process.argv.slice(2);
const print = (result: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify(result)}\n`);
const req = request(
  {
    host: '127.0.0.1',
    port: Number(port),
    path,
    servername,
    headers: { host: servername },
    ca: readFileSync(caFile),
    agent: false,
    timeout: 3000,
  },
  (res) => {
    const peer = (res.socket as TLSSocket).getPeerCertificate();
    let body = '';
    res.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    res.on('end', () =>
      print({
        status: res.statusCode ?? 0,
        body,
        san: peer.subjectaltname ?? '',
        sha256: peer.fingerprint256 ?? '',
      }),
    );
  },
);
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (error: NodeJS.ErrnoException) =>
  print({ status: 0, error: error.code ?? error.message }),
);
req.end();
