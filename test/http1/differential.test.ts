import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../support/harness.ts';

/**
 * A short, seeded run of the differential fuzzer (bench/http1-fuzz) and the smuggling corpus
 * against llhttp. llhttp is reached through node's internal binding, so the comparison runs
 * in a child process started with --expose-internals.
 */

const run = promisify(execFile);
const SCRIPT = join(ROOT, 'bench/http1-fuzz/run.ts');

async function fuzz(args: string[]): Promise<unknown> {
  try {
    const { stdout } = await run(
      process.execPath,
      ['--expose-internals', '--no-warnings', SCRIPT, '--json', ...args],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    return JSON.parse(stdout);
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    assert.fail(`the fuzzer found disagreements:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

describe('HTTP/1.1 parser against llhttp', () => {
  it('agrees on 40 000 generated and mutated streams, or refuses for a documented reason', async () => {
    const result = (await fuzz(['--count', '40000', '--seed', '20261202'])) as {
      outcomes: Record<string, number>;
      failures: unknown[];
    };
    assert.deepEqual(result.failures, []);
    // The generator must keep producing streams both parsers accept, or this proves nothing.
    assert.ok((result.outcomes.agree ?? 0) > 20_000, JSON.stringify(result.outcomes));
    assert.ok(
      Object.keys(result.outcomes).every((outcome) => !/^(lenient|differ)/.test(outcome)),
      JSON.stringify(result.outcomes),
    );
  });

  it('refuses or frames like llhttp every smuggling vector of the corpus', async () => {
    const rows = (await fuzz(['--vectors'])) as Array<{
      name: string;
      kind: string;
      outcome: string;
    }>;
    assert.ok(rows.length > 100);
    const unsafe = rows.filter((row) => /^(lenient|differ)/.test(row.outcome));
    assert.deepEqual(unsafe, []);
  });
});
