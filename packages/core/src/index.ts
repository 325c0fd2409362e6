export { type AdminEndpoints, createAdminHttpServer } from './admin/server.ts';
export { AnnotationMemo } from './annotations/memo.ts';
export type { PathSpec, Rejection } from './annotations/parse.ts';
export {
  normalizeHostEntry,
  normalizePathEntry,
  parseHosts,
  parsePaths,
} from './annotations/parse.ts';
export { EndpointHealth } from './balancer/endpoint-health.ts';
export { RoundRobin } from './balancer/round-robin.ts';
export {
  createSource,
  defineExtension,
  type Extension,
  type ExtensionParts,
  runCli,
  VERSION,
} from './cli.ts';
export {
  checkSettings,
  collect,
  helpText,
  loadRouterConfig,
  loadSettings,
} from './config/load.ts';
export type { BuildDefaults, ConfigOf, RouterConfig, Setting } from './config/settings.ts';
export {
  PRIVATE_DEFAULTS,
  PUBLIC_DEFAULTS,
  parsers,
  ROUTER_SETTINGS,
  setting,
} from './config/settings.ts';
export { parseDuration, parseSize } from './config/units.ts';
export { ConfigError, ErrorCodes, KubeApiError, PodrouterError } from './errors.ts';
export type { SharedClientRate, SharedVerdict } from './guards/client-limits.ts';
export { type Clock, ManualClock, realClock } from './kube/clock.ts';
export {
  connectionFromKubeConfig,
  type KubeConnection,
  kubeConfigConnection,
  loadKubeConnection,
  readKubeconfig,
} from './kube/connection.ts';
export {
  EventRecorder,
  type EventRecorderOptions,
  type EventSpec,
  eventName,
  microTime,
} from './kube/event-recorder.ts';
export {
  Informer,
  type InformerHandlers,
  type InformerOptions,
  type RawObject,
} from './kube/informer.ts';
export { METADATA_SHAPE, project, type Shape } from './kube/project.ts';
export { apiError, type KubeResponse, kubeRequest, statusMessage } from './kube/request.ts';
export { ObjectStore } from './kube/store.ts';
export {
  type ChannelMessages,
  channels,
  type PolicyDecisionMessage,
  type RequestStartMessage,
  type UpstreamRequestMessage,
  type UpstreamResponseMessage,
} from './observability/channels.ts';
export { createLogger, type Logger } from './observability/log.ts';
export { Tallies, type Tally } from './observability/tallies.ts';
export { sha256HexOfHeader } from './pipeline/header-digest.ts';
export type {
  Hook,
  HookContext,
  HookResponse,
  HookResult,
  Pipeline,
  PipelineCompiler,
} from './pipeline/types.ts';
export { podFromObject, secretFromObject } from './pods/from-object.ts';
export { matchesSelector, parseLabelSelector } from './pods/label-selector.ts';
export type { ClusterState, PodInfo, SecretInfo, StateChanges } from './pods/types.ts';
export type { ExchangeObserver, ExchangeRecord } from './proxy/handler.ts';
export { Router, type RouterOptions } from './router.ts';
export {
  canonicalAliasHost,
  parseAliasHost,
  type ServiceAlias,
} from './routes/alias-hosts.ts';
export { buildRouteTable } from './routes/build-table.ts';
export { hostOf, matchRoute } from './routes/match.ts';
export type { Endpoint, PodReport, Route, RouteTable } from './routes/types.ts';
export { FileSource } from './sources/file-source.ts';
export { KubeSource } from './sources/kube-source.ts';
export { parseObjects } from './sources/parse-objects.ts';
export { shareDispatcher } from './sources/shared-dispatcher.ts';
