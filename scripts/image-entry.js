// The image's entry point (Dockerfile). Its `.ts` sources were stripped of their types when
// the image was built (scripts/strip-types.ts), so they are read and run as the JavaScript
// modules they now are, without Node's own loader seeing a `.ts` file: that loader would
// load Node's TypeScript parser (amaro, ≈16 MB of RSS in every process) even to strip
// nothing. Outside the image, the bins run the TypeScript sources directly.
import { readFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith('file:') && url.endsWith('.ts')) {
      return { format: 'module', source: readFileSync(new URL(url)), shortCircuit: true };
    }
    return nextLoad(url, context);
  },
});

await import('./podrouter-bin.js');
