import type { Rejection } from '../annotations/parse.ts';
import type {
  Backend,
  BackendTls,
  EndpointSliceInfo,
  ResolvedName,
  ServiceInfo,
} from '../backends/types.ts';

/**
 * The router's view of the cluster: only the fields routing and policy need, normalized at
 * the source edge so every later stage works on plain, typed data.
 */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Milliseconds since the epoch; the age of a claim when two namespaces want one route. */
  readonly createdAt: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Every `containerPort` declared by the Pod's containers. */
  readonly containerPorts: readonly number[];
  /**
   * The ports spoken to over HTTP/2 cleartext: those whose `containerPort` name is `grpc`,
   * `grpc-*`, `h2c` or `http2-*` (the naming meshes use). Absent means none.
   */
  readonly h2cPorts?: readonly number[];
  readonly phase: string;
  readonly podIP: string;
  readonly ready: boolean;
  readonly terminating: boolean;
  /**
   * Set on the claimant a Service becomes (`backends/service-claimant.ts`): its name is
   * `service:NAME` (no Pod can be named so), and each Service port maps to the addresses
   * traffic for it goes to, instead of `podIP` and the port itself.
   */
  readonly service?: {
    readonly name: string;
    readonly backends: ReadonlyMap<number, readonly Backend[]>;
    /** Why it receives no traffic when no port has a backend. */
    readonly idle: string;
    /** Problems of the Service itself (an ExternalName that stopped resolving). */
    readonly problems: readonly Rejection[];
    /** Ports spoken to over TLS, with how (`backends/backend-tls.ts`); absent = none. */
    readonly tls?: ReadonlyMap<number, BackendTls>;
  };
}

export interface SecretInfo {
  readonly namespace: string;
  readonly name: string;
  /** `type` of the Secret (e.g. `kubernetes.io/tls`); absent when the object has none. */
  readonly type?: string;
  /** Decoded `data` (and `stringData`) fields. */
  readonly data: Readonly<Record<string, Buffer>>;
}

/** Everything a source knows at one moment. Sources emit a new one on every change. */
export interface ClusterState {
  readonly pods: readonly PodInfo[];
  readonly secrets: readonly SecretInfo[];
  /** Services and EndpointSlices (external backends); only sources that read them set these. */
  readonly services?: readonly ServiceInfo[];
  readonly endpointSlices?: readonly EndpointSliceInfo[];
  /** What the DNS names of `ExternalName` Services resolved to (`sources/external-names.ts`). */
  readonly externalNames?: ReadonlyMap<string, ResolvedName>;
  /** Secrets a source was asked for but cannot read (e.g. forbidden), by `namespace/name`. */
  readonly secretErrors?: ReadonlyMap<string, string>;
  /** This state's number in its source's sequence, when the source numbers them. */
  readonly sequence?: number;
  /** What changed since the state before, when the source knows (lets a table be patched). */
  readonly changes?: StateChanges;
}

export interface StateChanges {
  /** The `sequence` of the state these changes are relative to. */
  readonly since: number;
  /** Pods added, changed or removed, by `namespace/name`: the Pod now, `undefined` = gone. */
  readonly pods: ReadonlyMap<string, PodInfo | undefined>;
  /** Namespaces whose Secrets were added, changed or removed. */
  readonly secretNamespaces: ReadonlySet<string>;
  /** Services whose object or EndpointSlices changed, by `namespace/name`. */
  readonly services?: ReadonlySet<string>;
}
