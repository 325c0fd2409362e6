import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { type ConnectionOptions, checkServerIdentity } from 'node:tls';
import type { Rejection } from '../annotations/parse.ts';
import type { ClusterState, SecretInfo } from '../pods/types.ts';
import { parseSecretName } from '../tls/secret-name.ts';
import type { BackendTls, ServiceInfo, ServicePort } from './types.ts';

/**
 * TLS from the router to a Service's backends (the annotation-driven counterpart of Envoy
 * Gateway's BackendTLSPolicy, Traefik's ServersTransport and nginx `proxy_ssl_verify on`):
 * always verified, against the CA bundle of a Secret of the Service's own namespace (key
 * `ca.crt`) or against the system roots, with SNI and hostname verification on one name.
 * A CA that cannot be read disables the Service's TLS ports; it never falls back to
 * plaintext or to no verification.
 */

/** The annotations that turn it on (their names are settings, per build). */
export interface BackendTlsAnnotations {
  /** `system`, or the name of a Secret of the Service's namespace with `ca.crt`. */
  readonly tls: string;
  /** The name sent as SNI and verified; default: the ExternalName, else the address. */
  readonly serverName: string;
}

/** What the Service's TLS settings are read against. */
export interface BackendTlsContext {
  readonly annotations: BackendTlsAnnotations;
  /** A Secret of the state by `namespace/name`. */
  readonly secret: (key: string) => SecretInfo | undefined;
  /** Secrets the source cannot read, by `namespace/name` (the reason). */
  readonly secretErrors?: ReadonlyMap<string, string>;
}

/** The value of the TLS annotation that means "verify against the system roots". */
export const SYSTEM_ROOTS = 'system';
export const CA_KEY = 'ca.crt';
const MAX_CA_BYTES = 256 * 1024;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/;

/**
 * Ports spoken to over TLS without the annotation: named `https` or `https-*`, or with
 * `appProtocol: https` (the names meshes and Gateway implementations read).
 */
export const isHttpsPort = (port: ServicePort): boolean =>
  port.name === 'https' || port.name.startsWith('https-') || port.appProtocol === 'https';

/** What a Service says about TLS to its backends: per port, and what is wrong with it. */
export interface ServiceTls {
  /** TLS settings by Service port; ports absent are plaintext. */
  readonly ports: ReadonlyMap<number, BackendTls>;
  /** TLS ports that must get no backend: their CA (or server name) cannot be used. */
  readonly disabled: ReadonlySet<number>;
  readonly problems: readonly Rejection[];
  /** Why the disabled ports receive no traffic. */
  readonly reason?: string;
}

const NO_TLS: ServiceTls = { ports: new Map(), disabled: new Set(), problems: [] };

export function serviceTls(
  service: ServiceInfo,
  context: BackendTlsContext | undefined,
): ServiceTls {
  const tcp = service.ports.filter((port) => port.protocol === 'TCP');
  const annotations = context?.annotations;
  const tlsValue = annotations ? service.annotations[annotations.tls]?.trim() : undefined;
  const named = tlsValue === undefined ? tcp.filter(isHttpsPort) : tcp;
  if (named.length === 0 || context === undefined || annotations === undefined) return NO_TLS;
  const ports = named.map((port) => port.port);
  const disable = (annotation: string, entry: string, reason: string): ServiceTls => ({
    ports: new Map(),
    disabled: new Set(ports),
    problems: [{ annotation, entry, reason }],
    reason: `its backend TLS is not usable (${reason})`,
  });

  const serverValue = service.annotations[annotations.serverName]?.trim();
  let serverName = serverValue ?? (service.type === 'ExternalName' ? service.externalName : '');
  if (
    serverValue !== undefined &&
    !DNS_NAME.test(serverValue.toLowerCase()) &&
    isIP(serverValue) === 0
  )
    return disable(
      annotations.serverName,
      serverValue,
      `${JSON.stringify(serverValue)} is not a DNS name or an IP address; no traffic goes to the TLS ports until it is`,
    );
  serverName = serverName.toLowerCase().replace(/\.$/, '');

  let ca: string | undefined;
  let caSource = 'system roots';
  if (tlsValue !== undefined && tlsValue !== SYSTEM_ROOTS) {
    const parsed =
      tlsValue === ''
        ? { reason: 'empty: name a Secret of this namespace that holds ca.crt' }
        : parseSecretName(tlsValue);
    if ('reason' in parsed)
      return disable(
        annotations.tls,
        tlsValue,
        `${parsed.reason} (or "${SYSTEM_ROOTS}" for the system roots)`,
      );
    const key = `${service.namespace}/${parsed.name}`;
    const loaded = loadCa(key, context);
    if (typeof loaded !== 'string')
      return disable(
        annotations.tls,
        tlsValue,
        `${loaded.reason}; no traffic goes to the TLS ports until it is fixed, never plaintext`,
      );
    ca = loaded;
    caSource = `Secret ${key}`;
  }
  const digest = createHash('sha256')
    .update(ca ?? SYSTEM_ROOTS)
    .digest('hex')
    .slice(0, 16);
  const tls: BackendTls = { serverName, ca, caSource, id: `${serverName}|${digest}` };
  return { ports: new Map(ports.map((port) => [port, tls])), disabled: new Set(), problems: [] };
}

/** The PEM bundle of a CA Secret, or why it cannot be used (never its bytes). */
function loadCa(key: string, context: BackendTlsContext): string | { reason: string } {
  const error = context.secretErrors?.get(key);
  if (error !== undefined) return { reason: `CA Secret ${key} cannot be read: ${error}` };
  const secret = context.secret(key);
  if (secret === undefined) return { reason: `CA Secret ${key} does not exist` };
  const bytes = secret.data[CA_KEY];
  if (bytes === undefined || bytes.length === 0)
    return { reason: `CA Secret ${key} has no ${CA_KEY}` };
  if (bytes.length > MAX_CA_BYTES)
    return { reason: `${CA_KEY} of ${key} is larger than ${MAX_CA_BYTES} bytes` };
  let parsed = parsedCas.get(bytes);
  if (parsed === undefined) {
    parsed = parseCa(bytes);
    parsedCas.set(bytes, parsed);
  }
  if (typeof parsed === 'string') return parsed;
  if (parsed.unparsable === 0) return { reason: `${CA_KEY} of ${key} holds no PEM certificate` };
  return { reason: `certificate ${parsed.unparsable} in ${CA_KEY} of ${key} cannot be parsed` };
}

/** A bundle's PEM, or the 1-based number of its first certificate that does not parse (0: none found). */
type ParsedCa = string | { readonly unparsable: number };

/**
 * Parsed bundles by the decoded `ca.crt` of their Secret. A source decodes a Secret once per
 * version and keeps the object while it is unchanged, so every route table built meanwhile
 * reuses the parse; a changed Secret brings a new buffer, parsed once.
 */
const parsedCas = new WeakMap<Buffer, ParsedCa>();

function parseCa(bytes: Buffer): ParsedCa {
  const blocks = bytes.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { unparsable: 0 };
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return { unparsable: index + 1 };
    }
  }
  return blocks.join('\n');
}

/**
 * Options for `tls.connect` to one backend address. Node verifies the chain and the name by
 * default (`rejectUnauthorized`, `checkServerIdentity`): the name is `servername` when
 * there is one, else the address itself (checked against the certificate's IP SANs; an IP
 * is never sent as SNI, RFC 6066 §3).
 */
export function tlsConnectOptions(tls: BackendTls, ip: string, port: number): ConnectionOptions {
  const name = tls.serverName;
  return {
    host: ip,
    port,
    ...(name !== '' && isIP(name) === 0 ? { servername: name } : {}),
    ...(name !== '' && isIP(name) !== 0 ? { checkServerIdentity: checkAgainst(name) } : {}),
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    rejectUnauthorized: true,
    ALPNProtocols: ['http/1.1'],
    minVersion: 'TLSv1.2',
  };
}

/** Checks the certificate against the given IP (Node checks against `host` otherwise). */
const checkAgainst =
  (name: string): NonNullable<ConnectionOptions['checkServerIdentity']> =>
  (_host, cert) =>
    checkServerIdentity(name, cert);

/**
 * The context for the Services of a state: Secrets looked up by key, indexed on the first
 * lookup (a state whose Services name no CA Secret never builds the index).
 */
export function backendTlsContext(
  state: ClusterState,
  annotations: BackendTlsAnnotations | undefined,
): BackendTlsContext | undefined {
  if (annotations === undefined) return undefined;
  const errors = state.secretErrors ? { secretErrors: state.secretErrors } : {};
  let byKey: Map<string, SecretInfo> | undefined;
  const secret = (key: string) => {
    byKey ??= new Map(state.secrets.map((s) => [`${s.namespace}/${s.name}`, s]));
    return byKey.get(key);
  };
  return { annotations, secret, ...errors };
}

/** Error codes of a failed TLS handshake or certificate check (Node's and OpenSSL's). */
export const isTlsFailure = (code: string): boolean =>
  code.startsWith('ERR_TLS_') ||
  code.startsWith('ERR_SSL_') ||
  code === 'EPROTO' ||
  TLS_VERIFY_CODES.has(code) ||
  code.startsWith('CERT_');

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'HOSTNAME_MISMATCH',
  'INVALID_CA',
]);
