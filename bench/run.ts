/**
 * `npm run bench` (from the repository root): the route-table benchmark, then the proxy
 * benchmark. `npm run bench -- table` or `npm run bench -- proxy [run.ts options]` runs one.
 * Benchmarks, not tests: nothing here runs in CI, and nothing here passes or fails on a figure.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [which = 'all', ...rest] = process.argv.slice(2);

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (which !== 'all' && which !== 'table' && which !== 'proxy') {
  console.error('usage: npm run bench [-- table | proxy [--reps N --duration S ...]]');
  process.exit(2);
}
if (which === 'all' || which === 'table') {
  run(process.execPath, [join(here, 'table/run.ts'), ...(which === 'table' ? rest : [])]);
}
if (which === 'all' || which === 'proxy') {
  run('bash', [join(here, 'proxy/run.sh'), ...(which === 'proxy' ? rest : [])]);
}
