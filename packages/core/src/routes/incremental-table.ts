import { AnnotationMemo } from '../annotations/memo.ts';
import type { Rejection } from '../annotations/parse.ts';
import { serviceClaimantKey, serviceClaimantOf } from '../backends/service-claimant.ts';
import type { ClusterState, PodInfo, StateChanges } from '../pods/types.ts';
import {
  addClaims,
  aliasIndex,
  buildRouteTable,
  claimantsOf,
  type PodClaims,
  type RouteClaims,
  readPod,
  resolveRoute,
  type TableOptions,
} from './build-table.ts';
import { HostMap } from './host-map.ts';
import type { PodReport, Route, RouteTable } from './types.ts';

/**
 * A change's Pods, plus the claimants of the Services it says changed (object or slices),
 * and of every Service in a namespace whose Secrets changed (a CA Secret is read into its
 * Service's endpoints, not into a pipeline).
 */
function withServices(
  state: ClusterState,
  changes: StateChanges,
  options: TableOptions,
): ReadonlyMap<string, PodInfo | undefined> {
  const keys = new Set(changes.services ?? []);
  if (options.backendTls !== undefined && changes.secretNamespaces.size > 0) {
    for (const service of state.services ?? [])
      if (changes.secretNamespaces.has(service.namespace))
        keys.add(`${service.namespace}/${service.name}`);
  }
  if (keys.size === 0) return changes.pods;
  const all = new Map(changes.pods);
  for (const key of keys) {
    const [namespace = '', name = ''] = key.split('/');
    all.set(
      serviceClaimantKey(namespace, name),
      serviceClaimantOf(state, key, [options.pathsAnnotation], options.backendTls),
    );
  }
  return all;
}

/** Per build: what changes from one table to the next without the cluster changing. */
export interface BuildContext {
  readonly version: number;
  readonly now: number;
  readonly compilePipeline?: TableOptions['compilePipeline'];
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const podKey = (pod: PodInfo) => `${pod.namespace}/${pod.name}`;

/** Index of `value` in sorted `list`, or where it would go. */
function search(list: readonly string[], value: string): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((list[mid] as string) < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

function insertSorted(list: string[], value: string): void {
  const at = search(list, value);
  if (list[at] !== value) list.splice(at, 0, value);
}

function removeSorted(list: string[], value: string): void {
  const at = search(list, value);
  if (list[at] === value) list.splice(at, 1);
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/**
 * The route table, patched: a state that says what changed since the last one applied
 * (`ClusterState.changes`) recomputes only the hosts the changed Pods claim (before and
 * after), and, for a namespace whose Secrets changed, the hosts its Pods claim (its
 * credentials are compiled into those routes' pipelines). Every other route is the same
 * object as in the previous table, and a new immutable table is returned each time.
 * Without `changes`, or after a state this table did not see, it reads the whole state.
 *
 * `buildRouteTable` stays the reference: incremental-table.test.ts checks, for random
 * sequences of changes, that both give the same table.
 */
export class IncrementalTable {
  readonly #options: TableOptions;
  readonly #memo: AnnotationMemo;
  /** Every selected, annotated Pod by `namespace/name`. */
  #pods = new Map<string, PodClaims>();
  /** Pods claiming each host. */
  #claimants = new Map<string, Set<string>>();
  /** Hosts claimed by the Pods of each namespace. */
  #namespaceHosts = new Map<string, Map<string, number>>();
  /** host → path → route, as it is now (the tables' HostMaps share it by delta). */
  #hosts = new Map<string, ReadonlyMap<string, Route>>();
  #published = HostMap.from(new Map());
  /** Hosts whose routes changed since the last table. */
  #changedHosts = new Map<string, ReadonlyMap<string, Route> | undefined>();
  #sortedHosts: string[] = [];
  /** Every route, by host then path: patched in place, sliced for each table. */
  #routes: Route[] = [];
  /** Routes per `origin` (endpoint URL): the engine closes the pools of origins that go. */
  #origins = new Map<string, number>();
  /** Claims lost to another namespace, per host, per Pod. */
  #lost = new Map<string, Map<string, Rejection[]>>();
  #reports = new Map<string, PodReport>();
  #sortedReports: string[] = [];
  #rejectedEntries = 0;
  #sequence: number | undefined;

  constructor(options: TableOptions) {
    this.#options = options;
    this.#memo = options.memo ?? new AnnotationMemo();
  }

  apply(state: ClusterState, context: BuildContext): RouteTable {
    const options: TableOptions = {
      ...this.#options,
      ...(context.compilePipeline ? { compilePipeline: context.compilePipeline } : {}),
    };
    const changes = state.changes;
    if (state.sequence === undefined) {
      // A source that does not number its states (the file source) gets the reference.
      this.#sequence = undefined;
      const table = buildRouteTable(state, { ...options, memo: this.#memo, ...context });
      this.#origins = new Map();
      for (const route of table.routes) this.#countOrigins(route, 1);
      return table;
    }
    if (changes === undefined || changes.since !== this.#sequence) this.#reset(state, options);
    else this.#patch(withServices(state, changes, options), changes.secretNamespaces, options);
    this.#sequence = state.sequence;
    return this.#table(state, context);
  }

  /** Reads every Pod again: the first state, or one that does not follow the last. */
  #reset(state: ClusterState, options: TableOptions): void {
    this.#memo.nextGeneration();
    this.#pods = new Map();
    this.#claimants = new Map();
    this.#namespaceHosts = new Map();
    this.#hosts = new Map();
    this.#published = HostMap.from(new Map());
    this.#changedHosts = new Map();
    this.#sortedHosts = [];
    this.#routes = [];
    this.#origins = new Map();
    this.#lost = new Map();
    this.#reports = new Map();
    this.#sortedReports = [];
    this.#rejectedEntries = 0;
    for (const pod of claimantsOf(state, options)) {
      const read = readPod(pod, options, this.#memo);
      if (read === undefined) continue;
      const key = podKey(pod);
      this.#pods.set(key, read);
      for (const host of read.hosts) {
        addTo(this.#claimants, host, key);
        this.#countHost(pod.namespace, host, 1);
      }
    }
    // In host order, so each host's routes are appended rather than spliced in.
    for (const host of [...this.#claimants.keys()].sort(compare)) this.#resolveHost(host, options);
    for (const key of this.#pods.keys()) this.#report(key);
  }

  #patch(
    changed: ReadonlyMap<string, PodInfo | undefined>,
    secretNamespaces: ReadonlySet<string>,
    options: TableOptions,
  ): void {
    const hosts = new Set<string>();
    const pods = new Set<string>();
    for (const [key, pod] of changed) {
      pods.add(key);
      const before = this.#pods.get(key);
      if (before !== undefined) {
        for (const host of before.hosts) {
          hosts.add(host);
          removeFrom(this.#claimants, host, key);
          this.#countHost(before.pod.namespace, host, -1);
        }
        this.#pods.delete(key);
      }
      const after = pod === undefined ? undefined : readPod(pod, options, this.#memo);
      if (after === undefined) continue;
      this.#pods.set(key, after);
      for (const host of after.hosts) {
        hosts.add(host);
        addTo(this.#claimants, host, key);
        this.#countHost(after.pod.namespace, host, 1);
      }
    }
    for (const namespace of secretNamespaces) {
      for (const host of this.#namespaceHosts.get(namespace)?.keys() ?? []) hosts.add(host);
    }
    for (const host of hosts) {
      // A Pod that lost a claim on this host may win it now, or the other way round.
      for (const key of this.#lost.get(host)?.keys() ?? []) pods.add(key);
      this.#resolveHost(host, options);
      for (const key of this.#lost.get(host)?.keys() ?? []) pods.add(key);
    }
    for (const key of pods) this.#report(key);
  }

  #countHost(namespace: string, host: string, delta: number): void {
    let counts = this.#namespaceHosts.get(namespace);
    if (counts === undefined) {
      counts = new Map();
      this.#namespaceHosts.set(namespace, counts);
    }
    const count = (counts.get(host) ?? 0) + delta;
    if (count > 0) counts.set(host, count);
    else counts.delete(host);
    if (counts.size === 0) this.#namespaceHosts.delete(namespace);
  }

  /** Recomputes the routes of one host from the claims of the Pods on it. */
  #resolveHost(host: string, options: TableOptions): void {
    const byPath = new Map<string, RouteClaims>();
    for (const key of this.#claimants.get(host) ?? []) {
      addClaims(byPath, host, this.#pods.get(key) as PodClaims);
    }
    const lost = new Map<string, Rejection[]>();
    const reject = (pod: PodInfo, rejection: Rejection) => {
      const list = lost.get(podKey(pod));
      if (list) list.push(rejection);
      else lost.set(podKey(pod), [rejection]);
    };
    const routes = new Map<string, Route>();
    for (const path of [...byPath.keys()].sort(compare)) {
      routes.set(path, resolveRoute(byPath.get(path) as RouteClaims, options, reject));
    }
    if (lost.size > 0) this.#lost.set(host, lost);
    else this.#lost.delete(host);
    const previous = this.#hosts.get(host);
    // The host's routes sit together in #routes, in path order, where its hosts sort.
    const last = this.#routes.at(-1);
    const at =
      previous === undefined && (last === undefined || last.host < host)
        ? this.#routes.length
        : this.#routeIndex(host);
    this.#routes.splice(at, previous?.size ?? 0, ...routes.values());
    for (const route of previous?.values() ?? []) this.#countOrigins(route, -1);
    for (const route of routes.values()) this.#countOrigins(route, 1);
    if (routes.size > 0) {
      if (previous === undefined) insertSorted(this.#sortedHosts, host);
      this.#hosts.set(host, routes);
      this.#changedHosts.set(host, routes);
    } else if (this.#hosts.delete(host)) {
      removeSorted(this.#sortedHosts, host);
      this.#changedHosts.set(host, undefined);
    }
  }

  /** Where the routes of a host start (or would). */
  #routeIndex(host: string): number {
    let low = 0;
    let high = this.#routes.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#routes[mid] as Route).host < host) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #countOrigins(route: Route, delta: number): void {
    for (const { origin } of route.balancer.endpoints) {
      const count = (this.#origins.get(origin) ?? 0) + delta;
      if (count > 0) this.#origins.set(origin, count);
      else this.#origins.delete(origin);
    }
  }

  /** The endpoint origins of the last table (a live view, for the engine's pool cleanup). */
  get origins(): ReadonlySet<string> {
    return new OriginView(this.#origins);
  }

  /** A Pod's report: its own rejections, then the claims it lost, by host and path. */
  #report(key: string): void {
    const previous = this.#reports.get(key);
    if (previous !== undefined) this.#rejectedEntries -= previous.rejections.length;
    const claims = this.#pods.get(key);
    const rejections: Rejection[] = [...(claims?.rejections ?? [])];
    if (claims !== undefined) {
      for (const host of [...claims.hosts].sort(compare)) {
        const lost = this.#lost.get(host)?.get(key);
        if (lost) rejections.push(...lost);
      }
    }
    const notServing = claims?.notServing;
    if (claims === undefined || (rejections.length === 0 && notServing === undefined)) {
      if (this.#reports.delete(key)) removeSorted(this.#sortedReports, key);
      return;
    }
    const report: PodReport = {
      namespace: claims.pod.namespace,
      name: claims.pod.name,
      ...(notServing ? { notServing } : {}),
      rejections,
    };
    if (previous === undefined) insertSorted(this.#sortedReports, key);
    this.#reports.set(key, report);
    this.#rejectedEntries += rejections.length;
  }

  #publish(): HostMap {
    this.#published =
      this.#changedHosts.size > this.#hosts.size / 4
        ? HostMap.from(new Map(this.#hosts))
        : this.#published.with(this.#changedHosts);
    this.#changedHosts = new Map();
    return this.#published;
  }

  #table(state: ClusterState, context: BuildContext): RouteTable {
    const domain = this.#options.aliasDomain;
    return {
      version: context.version,
      builtAt: context.now,
      hosts: this.#publish(),
      routes: this.#routes.slice(),
      pods: this.#sortedReports.map((key) => this.#reports.get(key) as PodReport),
      rejectedEntries: this.#rejectedEntries,
      ...(domain !== undefined
        ? { aliases: aliasIndex(domain, this.#sortedHosts, state.pods) }
        : {}),
    };
  }
}

/** A read-only Set over the keys of a Map (no copy). */
class OriginView implements ReadonlySet<string> {
  readonly #counts: ReadonlyMap<string, number>;
  constructor(counts: ReadonlyMap<string, number>) {
    this.#counts = counts;
  }
  get size(): number {
    return this.#counts.size;
  }
  has(origin: string): boolean {
    return this.#counts.has(origin);
  }
  keys(): SetIterator<string> {
    return this.#counts.keys();
  }
  values(): SetIterator<string> {
    return this.#counts.keys();
  }
  *entries(): SetIterator<[string, string]> {
    for (const key of this.#counts.keys()) yield [key, key];
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void): void {
    for (const key of this.#counts.keys()) fn(key, key, this);
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.#counts.keys();
  }
}
