/**
 * Differential fuzzing of podrouter's HTTP/1.1 parser against llhttp (see differential.ts).
 *
 *   scripts/node.sh --expose-internals bench/http1-fuzz/run.ts [--count 3000000] [--seed N] [--json]
 *   scripts/node.sh --expose-internals bench/http1-fuzz/run.ts --vectors [--json]
 *
 * `--vectors` compares the two parsers on the smuggling corpus (test/http1/smuggling-vectors.ts)
 * instead of generated streams.
 *
 * Exits 1 when any case ends in an outcome docs/http1.md does not list: a message both
 * parsers accepted but read differently, one only podrouter accepted, or a refusal of
 * podrouter's whose reason is not documented.
 */
import { parseArgs } from 'node:util';
import { parseWhole } from '@podrouter/core/http1/parse-whole.ts';
import { SMUGGLING_VECTORS } from '../../test/http1/smuggling-vectors.ts';
import { compare, type Outcome, replay, run } from './differential.ts';
import { Llhttp } from './llhttp.ts';

/**
 * podrouter's reasons for refusing what llhttp accepts, each explained in docs/http1.md
 * ("Where it is stricter than llhttp"). Anything else is a failure.
 */
export const DOCUMENTED_STRICTER = new Set([
  'UNSUPPORTED_TRANSFER_ENCODING',
  'INVALID_TARGET',
  'INVALID_STATUS',
  'INVALID_REASON',
  'UNKNOWN_METHOD',
  'INVALID_METHOD',
  'VERSION_NOT_SUPPORTED',
  'INVALID_VERSION',
  'INVALID_FIELD_VALUE',
  'INVALID_FIELD_NAME',
  'OBS_FOLD',
  'LINE_ENDING',
  'INVALID_CONTENT_LENGTH',
  'DUPLICATE_CONTENT_LENGTH',
  'INVALID_CHUNK_SIZE',
  'INVALID_CHUNK_EXTENSION',
  'INVALID_CHUNK_END',
  'BODY_NOT_ALLOWED',
  'TRUNCATED',
]);

export const allowed = (outcome: Outcome) =>
  outcome === 'agree' ||
  outcome === 'agree-refused' ||
  (outcome.startsWith('stricter:') && DOCUMENTED_STRICTER.has(outcome.slice('stricter:'.length)));

function main(): void {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '3000000' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      json: { type: 'boolean', default: false },
      vectors: { type: 'boolean', default: false },
      replay: { type: 'string' },
    },
  });
  if (values.replay !== undefined) {
    const input = replay(Number(values.seed), Number(values.replay));
    const mine = parseWhole(input.kind, [input.bytes], {
      eof: true,
      requestMethods: input.methods,
    });
    const theirs = new Llhttp().parse(input.kind, input.bytes, input.methods);
    const show = (value: unknown) =>
      JSON.stringify(value, (_key, v) =>
        v && typeof v === 'object' && v.type === 'Buffer'
          ? Buffer.from(v.data).toString('latin1')
          : v,
      );
    console.log(
      `${input.kind} ${input.methods.join(',')} ${JSON.stringify(input.bytes.toString('latin1'))}`,
    );
    console.log(`outcome: ${compare(new Llhttp(), input).outcome}`);
    console.log(`podrouter: ${mine.error?.code ?? 'ok'} ${show(mine.messages)}`);
    console.log(`llhttp: ${theirs.error ?? 'ok'} ${show(theirs.messages)}`);
    return;
  }
  if (values.vectors) {
    const llhttp = new Llhttp();
    const rows = SMUGGLING_VECTORS.map((vector) => ({
      name: vector.name,
      kind: vector.kind,
      outcome: compare(llhttp, { kind: vector.kind, bytes: vector.bytes, methods: [] }).outcome,
    }));
    if (values.json) console.log(JSON.stringify(rows));
    else
      for (const row of rows)
        console.log(`${row.kind.padEnd(9)} ${row.name.padEnd(40)} ${row.outcome}`);
    process.exitCode = rows.every((row) => allowed(row.outcome)) ? 0 : 1;
    return;
  }
  const seed = Number(values.seed);
  const count = Number(values.count);
  const started = performance.now();
  const result = run(new Llhttp(), seed, count, allowed);
  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    console.log(JSON.stringify({ seed, seconds, ...result }));
  } else {
    console.log(
      `seed ${seed}: ${count} streams in ${seconds.toFixed(1)} s (${Math.round(count / seconds)}/s)`,
    );
    const rows = Object.entries(result.outcomes).sort((a, b) => b[1] - a[1]);
    for (const [outcome, n] of rows) {
      const mark = allowed(outcome as Outcome) ? '' : '  <-- not allowed';
      console.log(
        `${outcome.padEnd(48)} ${String(n).padStart(9)}  ${((100 * n) / count).toFixed(3)} %${mark}`,
      );
    }
    for (const failure of result.failures) console.log(JSON.stringify(failure));
  }
  process.exitCode = result.failures.length > 0 ? 1 : 0;
}

if (import.meta.main) main();
