export { matchKey } from './api-key/match-key.ts';
export { type KeyEntry, type KeySet, parseKeyField } from './api-key/parse-secret.ts';
export { PolicyError, type PolicyErrorCode, PolicyErrorCodes } from './errors.ts';
export { credentialsOf, policyExtension } from './extension.ts';
export {
  type CustomHook,
  defineHooks,
  type HookPhase,
  type HooksExport,
  type HooksSetup,
} from './hooks/api.ts';
export { PolicyMetrics } from './metrics.ts';
export { composeSteps, pipelineCompiler } from './pipeline/compose.ts';
export {
  type Consumer,
  PHASES,
  type Phase,
  type PolicyContext,
  type RouteInfo,
  type StepDefinition,
} from './pipeline/types.ts';
export { parseRateLimits, type RateLimitConfig } from './rate-limit/config.ts';
export { POLICY_SETTINGS, type PolicySettings } from './settings.ts';
