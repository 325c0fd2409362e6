import { PUBLIC_DEFAULTS, runCli } from '@podrouter/core';

await runCli(PUBLIC_DEFAULTS);
