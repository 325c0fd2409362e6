import { PRIVATE_DEFAULTS, runCli } from '@podrouter/core';

await runCli(PRIVATE_DEFAULTS);
