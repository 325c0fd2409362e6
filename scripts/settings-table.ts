import { PRIVATE_DEFAULTS, PUBLIC_DEFAULTS, ROUTER_SETTINGS, type Setting } from '@podrouter/core';
import { POLICY_SETTINGS } from '@podrouter/policy';
import { TRACING_SETTINGS } from '@podrouter/tracing';

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

/** Every setting of the two router builds, grouped as `--help` lists them. */
export function routerSettingsSection(): string {
  return [
    '#### Routing and proxying',
    '',
    settingsTable(ROUTER_SETTINGS),
    '',
    '#### Policy (API keys, rate limits, JWT, hooks — [docs/policy.md](docs/policy.md))',
    '',
    settingsTable(POLICY_SETTINGS),
    '',
    '#### Tracing and access logs ([docs/observability.md](docs/observability.md))',
    '',
    settingsTable(TRACING_SETTINGS),
  ].join('\n');
}

if (import.meta.main) process.stdout.write(`${routerSettingsSection()}\n`);
