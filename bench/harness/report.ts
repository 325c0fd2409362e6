/** Markdown tables for the reports. */

export type Align = 'left' | 'right';

export interface Column<Row> {
  readonly title: string;
  readonly align?: Align;
  readonly cell: (row: Row) => string;
}

export function table<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  return [
    `| ${columns.map((c) => c.title).join(' | ')} |`,
    `|${columns.map((c) => (c.align === 'left' ? '---' : '---:')).join('|')}|`,
    ...rows.map((row) => `| ${columns.map((c) => c.cell(row)).join(' | ')} |`),
  ].join('\n');
}
