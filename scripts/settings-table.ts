import { PRIVATE_DEFAULTS, PUBLIC_DEFAULTS, ROUTER_SETTINGS, type Setting } from '@podrouter/core';

/**
 * Prints the Markdown table of settings that README.md embeds, from the same data as
 * `--help`, so the two cannot drift: `scripts/node.sh scripts/settings-table.ts`.
 */
export function settingsTable(settings: readonly Setting[]): string {
  const rows = settings.map((setting) => {
    const pub = setting.default(PUBLIC_DEFAULTS);
    const priv = setting.default(PRIVATE_DEFAULTS);
    const value = (text: string) => (text === '' ? '(empty)' : `\`${text}\``);
    const defaults = pub === priv ? value(pub) : `public ${value(pub)}, private ${value(priv)}`;
    return `| \`${setting.env}\` | \`${setting.flag}\` | ${defaults} | ${setting.description.replaceAll('|', '\\|')} |`;
  });
  return ['| Variable | Flag | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

if (import.meta.main) process.stdout.write(`${settingsTable(ROUTER_SETTINGS)}\n`);
