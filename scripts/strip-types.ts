// Image build step (Dockerfile): replaces each TypeScript source under the given folders
// with its JavaScript, in place and under the same name, using Node's own type stripping
// (the transform it would apply at run time, so line and column numbers stay). The image's
// entry point (scripts/image-entry.js) then loads these `.ts` files as JavaScript, and Node
// never loads its TypeScript parser: ≈10 MB less RSS per process (docs/benchmarks.md).
//   node scripts/strip-types.ts packages/core/src packages/public/src …
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

let count = 0;
for (const dir of process.argv.slice(2)) {
  for (const path of sources(dir)) {
    writeFileSync(path, stripTypeScriptTypes(readFileSync(path, 'utf8'), { mode: 'strip' }));
    count++;
  }
}
process.stdout.write(`strip-types: ${count} files\n`);
