// The image ships its TypeScript sources stripped of their types (scripts/strip-types.ts) and
// starts through scripts/image-entry.js, which loads them as JavaScript: the same program
// runs, and Node's TypeScript parser (amaro) is never loaded.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'podrouter-stripped-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PARSER = "process.moduleLoadList.some((m) => m.includes('amaro'))";

test('stripped sources run through the image entry without the TypeScript parser', () => {
  mkdirSync(join(dir, 'src/lib'), { recursive: true });
  writeFileSync(
    join(dir, 'src/lib/shape.ts'),
    [
      'export interface Shape { readonly sides: number }',
      'export type Named<T> = T & { name: string };',
      'export const square = (side: number): Named<Shape> & { area: number } =>',
      "  ({ name: 'square', sides: 4, area: side ** 2 });",
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'src/main.ts'),
    [
      "import { type Shape, square } from './lib/shape.ts';",
      'const shape: Shape = square(3);',
      `console.log(JSON.stringify({ shape, parser: ${PARSER} }));`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'bin.js'), "import './src/main.ts';\n");
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const run = (entry: string) =>
    JSON.parse(execFileSync(process.execPath, [join(dir, entry)], { encoding: 'utf8' }));

  // As the sources are in the repository: Node strips the types itself.
  assert.deepEqual(run('bin.js'), {
    shape: { name: 'square', sides: 4, area: 9 },
    parser: true,
  });

  execFileSync(process.execPath, [join(root, 'scripts/strip-types.ts'), join(dir, 'src')]);
  assert.doesNotMatch(readFileSync(join(dir, 'src/lib/shape.ts'), 'utf8'), /interface|: number/);
  copyFileSync(join(root, 'scripts/image-entry.js'), join(dir, 'entry.js'));
  writeFileSync(
    join(dir, 'entry.js'),
    readFileSync(join(dir, 'entry.js'), 'utf8').replace('./podrouter-bin.js', './bin.js'),
  );
  assert.deepEqual(run('entry.js'), {
    shape: { name: 'square', sides: 4, area: 9 },
    parser: false,
  });
});
