import { PUBLIC_DEFAULTS, runCli } from '@podrouter/core';
import { policyExtension } from '@podrouter/policy';
import { tracingExtension } from '@podrouter/tracing';

await runCli(PUBLIC_DEFAULTS, process.argv.slice(2), process.env, [
  policyExtension,
  tracingExtension,
]);
