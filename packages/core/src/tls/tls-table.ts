import { AnnotationMemo } from '../annotations/memo.ts';
import type { Rejection } from '../annotations/parse.ts';
import { type LabelSelector, matchesSelector } from '../pods/label-selector.ts';
import type { ClusterState, PodInfo, SecretInfo } from '../pods/types.ts';
import { canonicalAliasHost } from '../routes/alias-hosts.ts';
import type { PodReport, RouteTable } from '../routes/types.ts';
import {
  type CertificateResult,
  covers,
  type LoadedCertificate,
  loadCertificate,
  pairDigest,
  validityProblem,
} from './certificate.ts';
import { parseSecretName } from './secret-name.ts';

/**
 * Cluster state + route table → which certificate serves which host: an immutable snapshot,
 * built with every route table and swapped in by reference, so the TLS listener's SNI lookup
 * is one map read and a Secret that changes takes effect for the next handshake (open
 * connections keep the context they started with).
 *
 * Each host takes its certificate from the Secret named by the oldest Pod that claims it
 * (among the namespaces its routes belong to). A missing, malformed, expired or mismatched
 * certificate disables TLS for its hosts alone, as a rejection of the Pods that name it; the
 * default certificate then serves them if it covers them (as ingress-nginx does).
 */

export interface TlsTableOptions {
  /** Pod annotation naming the Secret (`publicTlsSecret` / `privateTlsSecret`). */
  readonly annotation: string;
  readonly hostsAnnotation: string;
  readonly selector: LabelSelector;
  /** DEFAULT_TLS_SECRET: serves clients without SNI and hosts no Pod names a Secret for. */
  readonly defaultSecret?: { readonly namespace: string; readonly name: string };
  /** Set when hosts are Service aliases (private build): routes are keyed by `svc.ns`. */
  readonly aliasDomain?: string;
  readonly now?: number;
  readonly cache?: CertificateCache;
  readonly memo?: AnnotationMemo;
  /** Why a Secret could not be read (e.g. a watch the API server forbids), by `ns/name`. */
  readonly secretErrors?: ReadonlyMap<string, string>;
}

export interface HostCertificate {
  readonly host: string;
  readonly certificate: LoadedCertificate;
  /** The Pod whose annotation chose it; absent when the default certificate serves the host. */
  readonly pod?: string;
}

export interface TlsTable {
  /** SNI name → certificate; only certificates that load, are in date and cover the host. */
  readonly byHost: ReadonlyMap<string, HostCertificate>;
  readonly fallback: LoadedCertificate | undefined;
  readonly fallbackProblem: string | undefined;
  /** Routed hosts that have a certificate (their own or the default): these get redirected. */
  readonly secured: ReadonlySet<string>;
  /** By `namespace/pod`. */
  readonly rejections: ReadonlyMap<string, readonly Rejection[]>;
}

export const EMPTY_TLS_TABLE: TlsTable = {
  byHost: new Map(),
  fallback: undefined,
  fallbackProblem: undefined,
  secured: new Set(),
  rejections: new Map(),
};

/**
 * Loaded certificates by Secret, kept from one build to the next while their bytes stay the
 * same: creating a TLS context costs about a millisecond, and a table is rebuilt on every
 * Pod change. Two generations, like the annotation memo.
 */
export class CertificateCache {
  #previous = new Map<string, { digest: string; result: CertificateResult }>();
  #current = new Map<string, { digest: string; result: CertificateResult }>();

  nextGeneration(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }

  /** Start times after `now` of the certificates loaded in this generation (not valid yet). */
  notBeforeAfter(now: number): number[] {
    const times: number[] = [];
    for (const { result } of this.#current.values()) {
      if (!('reason' in result) && result.notBefore > now) times.push(result.notBefore);
    }
    return times;
  }

  get(secret: SecretInfo): CertificateResult {
    const key = `${secret.namespace}/${secret.name}`;
    const digest = pairDigest(secret);
    const known = this.#current.get(key) ?? this.#previous.get(key);
    if (known !== undefined && known.digest === digest) {
      this.#current.set(key, known);
      return known.result;
    }
    const result = loadCertificate(secret);
    this.#current.set(key, { digest, result });
    return result;
  }
}

interface Candidate {
  readonly pod: PodInfo;
  readonly secret: string;
  readonly entry: string;
  readonly hosts: readonly string[];
}

const podKey = (pod: { namespace: string; name: string }) => `${pod.namespace}/${pod.name}`;
const older = (a: Candidate, b: Candidate) =>
  a.pod.createdAt - b.pod.createdAt ||
  (a.pod.namespace < b.pod.namespace ? -1 : a.pod.namespace > b.pod.namespace ? 1 : 0) ||
  (a.pod.name < b.pod.name ? -1 : a.pod.name > b.pod.name ? 1 : 0);

export function buildTlsTable(
  state: ClusterState,
  table: RouteTable,
  options: TlsTableOptions,
): TlsTable {
  const now = options.now ?? Date.now();
  const cache = options.cache ?? new CertificateCache();
  const memo = options.memo ?? new AnnotationMemo();
  cache.nextGeneration();
  const secrets = new Map(state.secrets.map((secret) => [podKey(secret), secret]));
  const rejections = new Map<string, Rejection[]>();
  const reject = (pod: PodInfo, entry: string, reason: string) => {
    const list = rejections.get(podKey(pod)) ?? [];
    if (!list.some((known) => known.entry === entry && known.reason === reason)) {
      list.push({ annotation: options.annotation, entry, reason });
    }
    rejections.set(podKey(pod), list);
  };
  /** A certificate that serves now, or the reason it does not. */
  const certificateOf = (key: string): LoadedCertificate | { reason: string } => {
    const secret = secrets.get(key);
    if (secret === undefined) {
      const error = options.secretErrors?.get(key);
      return { reason: `Secret ${key} ${error ? `cannot be read: ${error}` : 'not found'}` };
    }
    const result = cache.get(secret);
    if ('reason' in result) return result;
    const problem = validityProblem(result, now);
    return problem === undefined ? result : { reason: problem };
  };
  const routeHost = (host: string) =>
    options.aliasDomain === undefined
      ? host
      : (canonicalAliasHost(host, options.aliasDomain) ?? host);

  const claims = new Map<string, Candidate[]>();
  for (const pod of state.pods) {
    const value = pod.annotations[options.annotation];
    if (value === undefined || !matchesSelector(options.selector, pod.labels)) continue;
    if (pod.terminating || pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
    const parsed = parseSecretName(value);
    if ('reason' in parsed) {
      reject(pod, value, parsed.reason);
      continue;
    }
    const hosts = memo.hosts(options.hostsAnnotation, pod.annotations[options.hostsAnnotation]);
    if (hosts.hosts.length === 0) {
      reject(pod, parsed.name, `${options.hostsAnnotation} names no host for this certificate`);
      continue;
    }
    const candidate = {
      pod,
      secret: `${pod.namespace}/${parsed.name}`,
      entry: parsed.name,
      hosts: hosts.hosts,
    };
    for (const host of hosts.hosts) {
      const list = claims.get(host);
      if (list) list.push(candidate);
      else claims.set(host, [candidate]);
    }
  }

  const byHost = new Map<string, HostCertificate>();
  for (const [host, candidates] of claims) {
    const owners = new Set(
      [...(table.hosts.get(routeHost(host))?.values() ?? [])].map((route) => route.namespace),
    );
    const eligible: Candidate[] = [];
    for (const candidate of candidates) {
      if (owners.size > 0 && !owners.has(candidate.pod.namespace)) {
        reject(
          candidate.pod,
          candidate.entry,
          `${host} is routed to namespace ${[...owners].sort().join(', ')}, whose Pods name its certificate`,
        );
      } else eligible.push(candidate);
    }
    const winner = eligible.sort(older)[0];
    if (winner === undefined) continue;
    for (const loser of eligible) {
      if (loser.secret !== winner.secret) {
        reject(
          loser.pod,
          loser.entry,
          `${host} already takes its certificate from Secret ${winner.secret} (named by the oldest Pod claiming it, ${podKey(winner.pod)})`,
        );
      }
    }
    const loaded = certificateOf(winner.secret);
    const users = eligible.filter((candidate) => candidate.secret === winner.secret);
    if ('reason' in loaded) {
      for (const user of users) reject(user.pod, user.entry, loaded.reason);
      continue;
    }
    if (!covers(loaded, host)) {
      const names = loaded.names.length > 0 ? loaded.names.join(', ') : 'no names';
      for (const user of users) {
        reject(
          user.pod,
          user.entry,
          `the certificate of Secret ${winner.secret} (${names}) does not cover ${host}`,
        );
      }
      continue;
    }
    byHost.set(host, { host, certificate: loaded, pod: podKey(winner.pod) });
  }

  let fallback: LoadedCertificate | undefined;
  let fallbackProblem: string | undefined;
  if (options.defaultSecret !== undefined) {
    const loaded = certificateOf(podKey(options.defaultSecret));
    if ('reason' in loaded) fallbackProblem = loaded.reason;
    else fallback = loaded;
  }
  const secured = new Set<string>();
  for (const host of byHost.keys()) secured.add(host);
  if (fallback !== undefined) {
    for (const host of table.hosts.keys()) {
      if (!secured.has(host) && covers(fallback, host)) secured.add(host);
    }
  }
  return { byHost, fallback, fallbackProblem, secured, rejections };
}

/** The route table with the TLS rejections added to its Pods' reports (log, /routes, Events). */
export function withTlsRejections(table: RouteTable, tls: TlsTable): RouteTable {
  if (tls.rejections.size === 0) return table;
  const added = new Map(tls.rejections);
  let count = 0;
  const pods: PodReport[] = table.pods.map((report) => {
    const extra = added.get(podKey(report));
    if (extra === undefined) return report;
    added.delete(podKey(report));
    count += extra.length;
    return { ...report, rejections: [...report.rejections, ...extra] };
  });
  for (const [key, extra] of added) {
    const [namespace = '', name = ''] = key.split('/');
    count += extra.length;
    pods.push({ namespace, name, rejections: extra });
  }
  pods.sort((a, b) => {
    const left = podKey(a);
    const right = podKey(b);
    return left < right ? -1 : left > right ? 1 : 0;
  });
  return { ...table, pods, rejectedEntries: table.rejectedEntries + count };
}

/** The `tls` section of the admin `/routes` view. */
export function tlsView(tls: TlsTable, port: number | undefined) {
  const describe = (certificate: LoadedCertificate) => ({
    secret: certificate.secret,
    names: certificate.names,
    notAfter: new Date(certificate.notAfter).toISOString(),
    sha256: certificate.fingerprint,
  });
  return {
    port: port ?? null,
    defaultCertificate:
      tls.fallback !== undefined
        ? describe(tls.fallback)
        : tls.fallbackProblem !== undefined
          ? { problem: tls.fallbackProblem }
          : null,
    hosts: [...tls.secured].sort().map((host) => {
      const own = tls.byHost.get(host);
      return own !== undefined
        ? { host, pod: own.pod, ...describe(own.certificate) }
        : { host, pod: null, ...describe(tls.fallback as LoadedCertificate) };
    }),
  };
}
