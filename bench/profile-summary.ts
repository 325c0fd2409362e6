/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function, and the
 * same grouped by package/area, largest first.
 *
 *   scripts/node.sh bench/profile-summary.ts PROFILE.cpuprofile [--top 30] [--from-ms MS --to-ms MS]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a script lives, in words a reader of the profile can act on. */
export function areaOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(idle)' || functionName === '(program)') return functionName;
    return 'native (V8 builtins, syscalls)';
  }
  if (url.startsWith('node:')) {
    const module = url.slice(5).split('/').slice(0, 2).join('/');
    return `node:${module}`;
  }
  const nodeModules = url.lastIndexOf('/node_modules/');
  if (nodeModules !== -1) {
    const rest = url.slice(nodeModules + 14).split('/');
    return (rest[0] ?? '').startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const packages = /\/packages\/([^/]+)\/src\/(.*)$/.exec(url);
  return packages ? `podrouter ${packages[1]}: ${packages[2]}` : url;
}

/** `fromMs`/`toMs`: only samples in that window after the profile started (skips start-up). */
export function summarize(profile: Profile, top: number, fromMs = 0, toMs = Infinity): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  let total = 0;
  let at = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (at < fromMs * 1000 || at > toMs * 1000) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    total += delta;
  });
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const short = frame.url.replace(/^.*\/(node_modules|packages)\//, '');
    const key = `${frame.functionName || '(anonymous)'}  ${short}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const area = areaOf(frame.url, frame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const busy = total - (byArea.get('(idle)') ?? 0);
  byArea.delete('(idle)');
  byFunction.delete('(idle)  ');

  // Inclusive time: a function's own samples plus everything it called, counted once per
  // stack even when the function recurses.
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = (byId.get(at) as ProfileNode).callFrame;
      if (frame.url === '' || frame.functionName === '') continue;
      const key = `${frame.functionName}  ${frame.url.replace(/^.*\/(node_modules|packages)\//, '')}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const rows = (map: Map<string, number>, limit: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(
        ([name, us]) =>
          `| ${((100 * us) / busy).toFixed(1)}% | ${(us / 1000).toFixed(0)} | ${name.replaceAll('|', '\\|')} |`,
      );
  return [
    `samples: ${profile.samples.length}, total ${(total / 1e6).toFixed(2)} s, busy (not idle) ${(busy / 1e6).toFixed(2)} s; percentages are of busy time; "native" is V8 builtins and system calls (kernel time included)`,
    '',
    '| self % | self ms | area |',
    '|---:|---:|---|',
    ...rows(byArea, 20),
    '',
    '| self % | self ms | function |',
    '|---:|---:|---|',
    ...rows(byFunction, top),
    '',
    '| total % | total ms | function (with what it calls) |',
    '|---:|---:|---|',
    ...rows(inclusive, top),
  ].join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '30' },
      'from-ms': { type: 'string', default: '0' },
      'to-ms': { type: 'string', default: 'Infinity' },
    },
  });
  const file = positionals[0];
  if (file === undefined) {
    console.error(
      'usage: profile-summary.ts PROFILE.cpuprofile [--top N] [--from-ms MS --to-ms MS]',
    );
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  console.log(
    summarize(profile, Number(values.top), Number(values['from-ms']), Number(values['to-ms'])),
  );
}

main();
