/** The machine and versions a run was measured with, for the report's header. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const sh = (command: string) => {
  try {
    return execFileSync('sh', ['-c', command], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

export interface Machine {
  readonly cpu: string;
  readonly cores: string;
  readonly kernel: string;
  readonly node: string;
  readonly nginx: string;
  readonly wrk: string;
  readonly revision: string;
}

export function describeMachine(root: string, node: string): Machine {
  return {
    cpu: sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
    cores: sh('nproc'),
    kernel: sh('uname -r'),
    node: execFileSync(node, ['--version'], { encoding: 'utf8' }).trim(),
    nginx: sh('nginx -v 2>&1').replace(/^nginx version: /, ''),
    wrk: sh('wrk -v 2>&1 | head -1'),
    // The work tree may hold uncommitted changes: say so.
    revision: sh(`git -C ${root} describe --always --dirty`),
  };
}

export const loadAverage = (): string =>
  readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export const machineLine = (m: Machine): string =>
  `${m.cpu}, ${m.cores} cores, Linux ${m.kernel}; node ${m.node}; ${m.nginx}; ${m.wrk}; podrouter ${m.revision}`;
