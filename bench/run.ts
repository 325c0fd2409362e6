/**
 * `npm run bench` (from the repository root): the proxy matrix (bench/proxy/run.ts: direct,
 * nginx, the Node peers, Bun, the byte pipe, podrouter with each policy, two hops, two
 * workers; c32, c1 and paced; ratios to nginx), bounded to about 8 minutes by default.
 * `npm run bench -- proxy [run.ts options]` passes options on (`--duration 3 --reps 1` for a
 * quick look, `--duration 10 --reps 3` for a longer one); `npm run bench -- table` and
 * `npm run bench -- tracing` run the route-table and tracing benchmarks instead.
 * Benchmarks, not tests: nothing here runs in CI, and nothing here passes or fails on a figure.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const which = args[0] === undefined || args[0].startsWith('-') ? 'proxy' : args[0];
const rest = args[0] === which ? args.slice(1) : args;

function run(command: string, argv: string[]): void {
  const result = spawnSync(command, argv, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (which === 'proxy') run('bash', [join(here, 'proxy/run.sh'), ...rest]);
else if (which === 'table') run(process.execPath, [join(here, 'table/run.ts'), ...rest]);
else if (which === 'tracing') run(process.execPath, [join(here, 'tracing/run.ts'), ...rest]);
else {
  console.error('usage: npm run bench [-- proxy [--reps N --duration S …] | table | tracing]');
  process.exit(2);
}
