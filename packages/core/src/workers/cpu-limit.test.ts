import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cgroupCpuLimit, defaultWorkers, parseCfsQuota, parseCpuMax } from './cpu-limit.ts';

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A fake filesystem root holding the given files (as a container sees /proc and /sys). */
function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'podrouter-cgroup-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('cgroup CPU limit', () => {
  it('parses cgroup v2 cpu.max', () => {
    assert.equal(parseCpuMax('max 100000\n'), undefined);
    assert.equal(parseCpuMax('200000 100000\n'), 2);
    assert.equal(parseCpuMax('150000 100000'), 1.5);
    assert.equal(parseCpuMax('50000'), 0.5);
    assert.equal(parseCpuMax(''), undefined);
    assert.equal(parseCpuMax('garbage 100000'), undefined);
    assert.equal(parseCpuMax('0 100000'), undefined);
  });

  it('parses cgroup v1 cfs quota and period', () => {
    assert.equal(parseCfsQuota('-1\n', '100000\n'), undefined);
    assert.equal(parseCfsQuota('300000\n', '100000\n'), 3);
    assert.equal(parseCfsQuota('250000', '100000'), 2.5);
    assert.equal(parseCfsQuota(undefined, '100000'), undefined);
    assert.equal(parseCfsQuota('100000', '0'), undefined);
  });

  it('reads a v2 container (cgroup namespace: its own cgroup is the root)', () => {
    const root = fixture({
      'proc/self/cgroup': '0::/\n',
      'sys/fs/cgroup/cpu.max': '150000 100000\n',
    });
    assert.equal(cgroupCpuLimit(root), 1.5);
  });

  it('takes the smallest limit on the path from the process cgroup to the root (v2)', () => {
    const root = fixture({
      'proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/kubepods/pod1/cpu.max': '400000 100000\n',
      'sys/fs/cgroup/kubepods/pod1/ctr/cpu.max': '200000 100000\n',
    });
    assert.equal(cgroupCpuLimit(root), 2);
  });

  it('reads v1 (cpu,cpuacct mount) and ignores the other controllers', () => {
    const root = fixture({
      'proc/self/cgroup': '4:memory:/x\n3:cpu,cpuacct:/kubepods/pod1/ctr\n0::/\n',
      // Without a cgroup namespace the container sees its own cgroup at the mount root.
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '300000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuLimit(root), 3);
  });

  it('says nothing when there is no limit or nothing to read', () => {
    assert.equal(cgroupCpuLimit(fixture({})), undefined);
    const unlimited = fixture({
      'proc/self/cgroup': '1:cpu:/\n0::/\n',
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuLimit(unlimited), undefined);
  });

  it('derives WORKERS: limit rounded up, at least 1, at most the cores', () => {
    assert.equal(defaultWorkers(1.5, 8), 2);
    assert.equal(defaultWorkers(2, 8), 2);
    assert.equal(defaultWorkers(0.25, 8), 1);
    assert.equal(defaultWorkers(16, 4), 4);
    assert.equal(defaultWorkers(undefined, 4), 1);
    assert.equal(defaultWorkers(3, 1), 1);
  });
});
