import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, type Node, type Pair, parseDocument, stringify } from 'yaml';

/**
 * The values table of charts/podrouter/README.md, generated from the comments of
 * charts/podrouter/values.yaml so that the two cannot drift:
 * `scripts/node.sh scripts/chart-values-table.ts --write` rewrites the README's block,
 * without `--write` it prints the table. Every value needs a comment; the comment right above
 * a key is its meaning (in a nested map, the comment above the first key may also sit just
 * below the parent's line, where YAML keeps it with the map).
 */

const ROOT = join(import.meta.dirname, '..');
export const CHART_README = join(ROOT, 'charts/podrouter/README.md');
export const CHART_VALUES = join(ROOT, 'charts/podrouter/values.yaml');
const START = '<!-- values:start -->';
const END = '<!-- values:end -->';

/** Maps handed to Kubernetes (or to a process) as a whole: one row, not one per key. */
const WHOLE = [
  /^podSecurityContext$/,
  /^securityContext$/,
  /^probes\.(readiness|liveness)$/,
  /\.resources$/,
  /\.env$/,
];

export class ValuesDocError extends Error {}

interface Row {
  readonly path: string;
  readonly value: unknown;
  readonly meaning: string;
}

/** A comment's last paragraph: one set off by a blank line (a file header) is not the key's. */
const text = (comment: string | null | undefined) =>
  ((comment ?? '').split(/\n[ \t]*\n/).at(-1) ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');

function rows(map: Node, prefix: string, out: Row[]): void {
  if (!isMap(map)) return;
  map.items.forEach((pair: Pair, index) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const own = text(isScalar(pair.key) ? pair.key.commentBefore : undefined);
    // YAML keeps a comment between `parent:` and its first key with the map, not the key.
    const meaning = own || (index === 0 ? text(map.commentBefore) : '');
    const value = pair.value as Node | null;
    const whole = WHOLE.some((re) => re.test(path));
    if (isMap(value) && !value.flow && !whole) {
      // A section: its own comment (if any) gets a row of its own, its keys the rest.
      if (meaning !== '') out.push({ path, value: undefined, meaning });
      rows(value, path, out);
      return;
    }
    if (meaning === '') {
      throw new ValuesDocError(
        `charts/podrouter/values.yaml: ${path} has no comment; say above it what it does`,
      );
    }
    const js = value === null ? null : (value.toJSON() as unknown);
    out.push({ path, value: js, meaning });
  });
}

function show(row: Row): string {
  if (row.value === undefined) return '';
  if (row.path.endsWith('.env') && row.value !== null && typeof row.value === 'object') {
    return `${Object.keys(row.value).length} settings`;
  }
  const flat = stringify(row.value, { collectionStyle: 'flow', lineWidth: 0 }).trim();
  return `\`${flat.replaceAll('|', '\\|')}\``;
}

/** The Markdown tables: the chart-wide values, then each component's. */
export function valuesTable(source = readFileSync(CHART_VALUES, 'utf8')): string {
  const doc = parseDocument(source);
  if (doc.errors.length > 0) throw new ValuesDocError(doc.errors.map((e) => e.message).join('; '));
  const all: Row[] = [];
  rows(doc.contents as Node, '', all);
  const sections = new Map<string, Row[]>();
  for (const row of all) {
    const top = row.path.split('.')[0] as string;
    const section = ['public', 'private', 'controller'].includes(top) ? top : '';
    sections.set(section, [...(sections.get(section) ?? []), row]);
  }
  const table = (list: readonly Row[]) =>
    [
      '| Value | Default | Meaning |',
      '| --- | --- | --- |',
      ...list.map(
        (row) => `| \`${row.path}\` | ${show(row)} | ${row.meaning.replaceAll('|', '\\|')} |`,
      ),
    ].join('\n');
  const parts: string[] = [];
  for (const [section, list] of sections) {
    parts.push(section === '' ? '#### Chart-wide' : `#### \`${section}\``, '', table(list), '');
  }
  return parts.join('\n').trimEnd();
}

/** The README with its values block replaced by `table`. */
export function withTable(readme: string, table: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) {
    throw new ValuesDocError(`${CHART_README} has no ${START} … ${END} block`);
  }
  return `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
}

if (import.meta.main) {
  const table = valuesTable();
  if (process.argv.includes('--write')) {
    writeFileSync(CHART_README, withTable(readFileSync(CHART_README, 'utf8'), table));
  } else {
    process.stdout.write(`${table}\n`);
  }
}
