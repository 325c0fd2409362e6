import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  CHART_README,
  CHART_VALUES,
  ValuesDocError,
  valuesTable,
  withTable,
} from '../../scripts/chart-values-table.ts';
import { ROOT } from '../support/harness.ts';

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  $ref?: string;
}

const schemaFile = JSON.parse(
  readFileSync(join(ROOT, 'charts/podrouter/values.schema.json'), 'utf8'),
) as Schema & { $defs?: Record<string, Schema> };

const resolve = (schema: Schema): Schema =>
  schema.$ref ? (schemaFile.$defs?.[schema.$ref.replace('#/$defs/', '')] ?? schema) : schema;

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

describe('chart README and values.schema.json', () => {
  it('the README values table is generated from values.yaml as it is now', () => {
    const readme = readFileSync(CHART_README, 'utf8');
    assert.equal(
      readme,
      withTable(readme, valuesTable()),
      'regenerate it with scripts/node.sh scripts/chart-values-table.ts --write',
    );
  });

  it('a value without a comment fails the generator, naming it', () => {
    assert.throws(
      () => valuesTable('# Chart header.\n\nrbac:\n  # Made.\n  create: true\n  other: 1\n'),
      (error: unknown) =>
        error instanceof ValuesDocError && /rbac\.other has no comment/.test(error.message),
    );
    assert.match(
      valuesTable('# Header paragraph.\n\n# What it is.\nname: ""\n'),
      /^\| `name` \| `""` \| What it is\. \|$/m,
      'a file header set off by a blank line is not the first key’s meaning',
    );
  });

  it('every value is declared in the schema, and the schema declares no value the chart lacks', () => {
    const values = parse(readFileSync(CHART_VALUES, 'utf8')) as Record<string, unknown>;
    const problems: string[] = [];
    const walk = (value: Record<string, unknown>, schema: Schema, path: string) => {
      const properties = schema.properties;
      // A free-form object (resources, affinity, …) is handed to Kubernetes as it is.
      if (properties === undefined) return;
      if (schema.additionalProperties !== false) {
        problems.push(`${path || '(root)'}: additionalProperties is not false, typos would pass`);
      }
      for (const [key, child] of Object.entries(value)) {
        const childSchema = properties[key];
        if (childSchema === undefined) problems.push(`${path}${key}: not in the schema`);
        else if (isObject(child)) walk(child, resolve(childSchema), `${path}${key}.`);
      }
      for (const key of Object.keys(properties)) {
        if (!(key in value) && !(path === '' && key === 'global')) {
          problems.push(`${path}${key}: in the schema, not in values.yaml`);
        }
      }
    };
    walk(values, schemaFile, '');
    assert.deepEqual(problems, []);
  });
});
