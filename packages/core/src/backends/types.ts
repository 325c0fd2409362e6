/**
 * Services and EndpointSlices as the router sees them: only what turning a Service into
 * route claims needs, normalized at the source edge (see `backends/from-object.ts`).
 */
export interface ServicePort {
  /** `""` for the single unnamed port a Service may have. */
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  /** `appProtocol`, lower-cased (e.g. `https`); absent when unset. */
  readonly appProtocol?: string;
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Milliseconds since the epoch; the age of its claims, like a Pod's. */
  readonly createdAt: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly type: string;
  /** `spec.externalName` of an `ExternalName` Service, `""` otherwise. */
  readonly externalName: string;
  readonly ports: readonly ServicePort[];
  readonly terminating: boolean;
}

export interface SliceEndpoint {
  readonly addresses: readonly string[];
  /** Conditions as the API gives them; `undefined` is read as the API says (ready: true). */
  readonly ready: boolean | undefined;
  readonly serving: boolean | undefined;
  readonly terminating: boolean | undefined;
}

export interface EndpointSliceInfo {
  readonly namespace: string;
  readonly name: string;
  /** The `kubernetes.io/service-name` label: the Service this slice belongs to. */
  readonly serviceName: string;
  /** `IPv4`, `IPv6` or `FQDN` (the last is deprecated and not routed). */
  readonly addressType: string;
  /** Port name → port number (`""` for an unnamed port), TCP ports only. */
  readonly ports: ReadonlyMap<string, number>;
  readonly endpoints: readonly SliceEndpoint[];
}

/** Where a Service port's traffic goes: one `ip:port` per backend address. */
export interface Backend {
  readonly ip: string;
  readonly port: number;
}

/** An ExternalName's DNS name, resolved: the last addresses, and the last failure if any. */
export interface ResolvedName {
  readonly addresses: readonly string[];
  /** Set while resolving fails; the addresses are then the last ones that resolved. */
  readonly error?: string;
}

/** How the router speaks TLS to a Service's backends (`backends/backend-tls.ts`). */
export interface BackendTls {
  /** Sent as SNI (a DNS name) and verified against the certificate; `""` = the address. */
  readonly serverName: string;
  /** PEM CA bundle from a Secret; `undefined` = the system roots. */
  readonly ca: string | undefined;
  /** Where the CA comes from, for reports: `Secret ns/name` or `system roots`. */
  readonly caSource: string;
  /** Server name and CA digest: connections are pooled per address and this. */
  readonly id: string;
}
