import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { createServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AnnotationMemo } from '../annotations/memo.ts';
import type { Http2Front } from '../http2/front.ts';
import type { Logger } from '../observability/log.ts';
import type { LabelSelector } from '../pods/label-selector.ts';
import type { ClusterState } from '../pods/types.ts';
import { isGrpcRequest } from '../proxy/grpc.ts';
import { sendProblem } from '../proxy/problem.ts';
import { hostOf } from '../routes/match.ts';
import type { RouteTable } from '../routes/types.ts';
import { type LoadedCertificate, TLS_OPTIONS } from './certificate.ts';
import {
  buildTlsTable,
  CertificateCache,
  EMPTY_TLS_TABLE,
  type TlsTable,
  tlsView,
  withTlsRejections,
} from './tls-table.ts';

export interface TlsTerminationOptions {
  readonly port: number;
  readonly address: string;
  readonly annotation: string;
  readonly hostsAnnotation: string;
  readonly selector: LabelSelector;
  readonly defaultSecret: { readonly namespace: string; readonly name: string } | undefined;
  readonly aliasDomain?: string;
  readonly redirect: boolean;
  /** 0 = no Strict-Transport-Security. */
  readonly hstsMaxAgeMs: number;
  readonly handshakeTimeoutMs: number;
  /** The router's HTTP/1.1 server: decrypted connections are handed to it, so keep-alive,
   * timeouts, upgrades and draining work the same on both ports. */
  readonly http: Server;
  /** Serve HTTP/2 (ALPN h2) as well, on this front; otherwise HTTP/1.1 only. */
  readonly http2?: Http2Front;
  readonly logger: Logger;
  /** Called when a certificate in use expires (or one not yet valid starts to be): the
   * router rebuilds its table from the last state, so the change is reported and served. */
  readonly onValidityChange?: () => void;
  /** The router's registry: certificate expiry and handshake failures are served there. */
  readonly registry?: Registry;
  readonly tier?: string;
}

/**
 * The HTTPS side of a router: a TLS listener whose SNI callback reads the current TLS table
 * (swapped with every route table), the 308 redirect of plain requests for hosts that have a
 * certificate, and HSTS. Certificate rotation is a table swap: a handshake after it gets the
 * new certificate, an open connection keeps the one it started with.
 */
export class TlsTermination {
  readonly #options: TlsTerminationOptions;
  readonly #server: TlsServer;
  readonly #cache = new CertificateCache();
  readonly #memo = new AnnotationMemo();
  readonly #hsts: string | undefined;
  #table: TlsTable = EMPTY_TLS_TABLE;
  #fallback: LoadedCertificate | undefined;
  #port: number | undefined;
  #recheck: NodeJS.Timeout | undefined;
  readonly #notAfter: Gauge<'tier' | 'secret'> | undefined;
  readonly #handshakeFailures: Counter<'tier'> | undefined;

  constructor(options: TlsTerminationOptions) {
    this.#options = options;
    const seconds = Math.floor(options.hstsMaxAgeMs / 1000);
    this.#hsts = seconds > 0 ? `max-age=${seconds}` : undefined;
    const registers = options.registry ? [options.registry] : [];
    this.#notAfter = options.registry
      ? new Gauge({
          name: 'podrouter_tls_certificate_not_after_seconds',
          help: 'Expiry (Unix time) of each certificate in use, by Secret: alert before it passes.',
          labelNames: ['tier', 'secret'],
          // WORKERS > 1: the same certificates in every worker, not a sum of dates.
          aggregator: 'min',
          registers,
        })
      : undefined;
    this.#handshakeFailures = options.registry
      ? new Counter({
          name: 'podrouter_tls_handshake_failures_total',
          help: 'TLS handshakes that failed (no shared protocol or suite, no certificate for the name, timeouts).',
          labelNames: ['tier'],
          registers,
        })
      : undefined;
    const h2 = options.http2;
    this.#server = createServer(
      {
        ...TLS_OPTIONS,
        // Server preference: a client that offers both gets h2.
        ALPNProtocols: h2 ? ['h2', 'http/1.1'] : ['http/1.1'],
        handshakeTimeout: options.handshakeTimeoutMs,
        SNICallback: (name, done) => done(null, this.#contextFor(name)),
      },
      (socket: TLSSocket) => {
        if (h2 && socket.alpnProtocol === 'h2') h2.accept(socket);
        else options.http.emit('connection', socket);
      },
    );
    this.#server.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
      this.#handshakeFailures?.inc({ tier: options.tier ?? '' });
      options.logger.debug(
        { code: error.code, remoteAddress: socket.remoteAddress },
        'TLS handshake failed',
      );
      socket.destroy();
    });
  }

  /** SNI names arrive lower-cased or not; a name without a certificate gets the default. */
  #contextFor(name: string) {
    const entry = this.#table.byHost.get(name.toLowerCase());
    return entry?.certificate.context ?? this.#table.fallback?.context;
  }

  /** Builds the TLS table for a new route table, swaps it in, and returns the route table
   * with the TLS rejections added to its Pods' reports. */
  apply(state: ClusterState, table: RouteTable): RouteTable {
    const options = this.#options;
    const previous = this.#table;
    this.#memo.nextGeneration();
    const next = buildTlsTable(state, table, {
      annotation: options.annotation,
      hostsAnnotation: options.hostsAnnotation,
      selector: options.selector,
      cache: this.#cache,
      memo: this.#memo,
      ...(options.defaultSecret ? { defaultSecret: options.defaultSecret } : {}),
      ...(options.aliasDomain !== undefined ? { aliasDomain: options.aliasDomain } : {}),
      ...(state.secretErrors ? { secretErrors: state.secretErrors } : {}),
    });
    if (next.fallback !== this.#fallback) {
      this.#fallback = next.fallback;
      // Clients without SNI get the listener's own context.
      this.#server.setSecureContext(
        next.fallback ? { ...TLS_OPTIONS, ...next.fallback.pair } : { ...TLS_OPTIONS },
      );
    }
    if (next.fallbackProblem !== undefined && next.fallbackProblem !== previous.fallbackProblem) {
      options.logger.warn(
        { setting: 'DEFAULT_TLS_SECRET', reason: next.fallbackProblem },
        'default TLS certificate not usable',
      );
    }
    this.#table = next;
    this.#scheduleRecheck(state);
    if (this.#notAfter) {
      // The label set is the Secrets in use, so it follows the table (a few per namespace).
      this.#notAfter.reset();
      const tier = options.tier ?? '';
      const inUse = [...next.byHost.values()].map((entry) => entry.certificate);
      if (next.fallback) inUse.push(next.fallback);
      for (const certificate of inUse) {
        this.#notAfter.set({ tier, secret: certificate.secret }, certificate.notAfter / 1000);
      }
    }
    return withTlsRejections(table, next);
  }

  /** A timer for the next moment a certificate's validity changes: the earliest expiry of
   * those in use, or the start of one that is not valid yet. */
  #scheduleRecheck(state: ClusterState): void {
    if (this.#recheck) clearTimeout(this.#recheck);
    this.#recheck = undefined;
    const onChange = this.#options.onValidityChange;
    if (onChange === undefined) return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const { certificate } of this.#table.byHost.values())
      next = Math.min(next, certificate.notAfter);
    if (this.#table.fallback) next = Math.min(next, this.#table.fallback.notAfter);
    for (const time of this.#cache.notBeforeAfter(now)) next = Math.min(next, time);
    if (!Number.isFinite(next)) return;
    // setTimeout holds at most 2^31-1 ms (~24.8 days): a later moment is re-planned then.
    const wait = Math.min(Math.max(next - now, 0) + 1000, 2 ** 31 - 1);
    this.#recheck = setTimeout(() => {
      this.#recheck = undefined;
      if (next - Date.now() > 0) this.#scheduleRecheck(state);
      else onChange();
    }, wait);
    this.#recheck.unref();
  }

  /**
   * Runs before the proxy on every request of both ports: on the plain port, redirects hosts
   * that have a certificate (true: answered); on the TLS port, adds HSTS for them.
   */
  intercept(req: IncomingMessage, res: ServerResponse): boolean {
    const host = hostOf(req.headers.host);
    if (!this.#table.secured.has(host)) return false;
    if ((req.socket as Partial<TLSSocket>).encrypted === true) {
      if (this.#hsts !== undefined) res.setHeader('strict-transport-security', this.#hsts);
      return false;
    }
    if (!this.#options.redirect || this.#port === undefined) return false;
    const url = req.url ?? '';
    // Absolute-form targets are the proxy's to judge; ACME http-01 must stay on plain HTTP.
    if (!url.startsWith('/') || url.startsWith('/.well-known/acme-challenge/')) return false;
    const authority = host.includes(':') ? `[${host}]` : host;
    const port = this.#port === 443 ? '' : `:${this.#port}`;
    const location = `https://${authority}${port}${url}`;
    if (isGrpcRequest(req)) {
      // A gRPC client follows no redirect: it reads a status saying to dial with TLS.
      sendProblem(res, {
        status: 308,
        title: 'TLS required',
        detail: `This host is served over TLS only (port ${this.#port}).`,
        headers: { location },
      });
      return true;
    }
    res.writeHead(308, { location, 'content-length': '0' });
    res.end();
    return true;
  }

  /** `port` overrides the configured one; `reusePort` lets the workers of `workers/` share it. */
  async listen(options: { port?: number; reusePort?: boolean } = {}): Promise<number> {
    const reusePort = options.reusePort === true;
    this.#server.listen({
      port: options.port ?? this.#options.port,
      host: this.#options.address,
      ...(reusePort ? { reusePort, exclusive: true } : {}),
    });
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
    return this.#port;
  }

  /** Stops accepting; the connections belong to the HTTP/1.1 server and the HTTP/2 front,
   * which drain them. */
  close(): Promise<void> {
    if (this.#recheck) clearTimeout(this.#recheck);
    return new Promise<void>((done) => {
      if (!this.#server.listening) done();
      else this.#server.close(() => done());
    });
  }

  /** The `tls` section of `/routes`. */
  view() {
    return tlsView(this.#table, this.#port);
  }
}
