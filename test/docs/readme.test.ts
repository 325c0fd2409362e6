import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { routerSettingsSection } from '../../scripts/settings-table.ts';
import { ROOT } from '../support/harness.ts';

/** The README's settings tables are generated from the settings `--help` prints. */
it('README lists every router setting exactly as --help does', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- settings:start -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(readme)?.[1];
  assert.ok(block, 'README has the settings block');
  assert.equal(
    block,
    routerSettingsSection(),
    'regenerate it with scripts/node.sh scripts/settings-table.ts',
  );
});
