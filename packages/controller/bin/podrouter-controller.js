#!/usr/bin/env node
// Node >= 22.18 runs the TypeScript sources directly (type stripping). `cleanup` is the
// command the chart's post-delete hook runs; anything else starts the controller.
if (process.argv[2] === 'cleanup') await import('../src/cleanup/main.ts');
else await import('../src/main.ts');
