import { ConfigError } from '../errors.ts';
import {
  type BuildDefaults,
  type ConfigOf,
  ROUTER_SETTINGS,
  type RouterConfig,
  type Setting,
} from './settings.ts';

export type CliRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
      kind: 'run';
      config: RouterConfig;
      /** Every setting's parsed value, extensions' included (see `collect`). */
      values: ReadonlyMap<Setting, unknown>;
    };

/**
 * Fails when two settings share an environment variable, a flag or a key: the settings of
 * the core and of every extension share one namespace, and a collision would let one
 * silently take the other's value.
 */
export function checkSettings(settings: readonly Setting[]): void {
  for (const field of ['env', 'flag', 'key'] as const) {
    const seen = new Map<string, Setting>();
    for (const setting of settings) {
      const other = seen.get(setting[field]);
      if (other !== undefined) {
        throw new ConfigError(
          `${setting.env} (${setting.flag})`,
          `${field === 'env' ? 'environment variable' : field} ${setting[field]} is declared twice (settings "${other.key}" and "${setting.key}"); rename one`,
        );
      }
      seen.set(setting[field], setting);
    }
  }
}

/** The typed values of `settings`, each from `value` (its parsed value). */
export function collect<const S extends readonly Setting[]>(
  settings: S,
  value: (setting: Setting) => unknown,
): ConfigOf<S> {
  const values: Record<string, unknown> = {};
  for (const setting of settings) values[setting.key] = value(setting);
  // Every key was set by its own setting's parser: exactly the shape ConfigOf<S> derives.
  return values as ConfigOf<S>;
}

type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; values: Map<Setting, unknown> };

/**
 * Resolves every setting from, in order of precedence: flag, environment variable, build
 * default. Throws `ConfigError` naming the setting for anything invalid or unknown, and for
 * two settings declared with the same name.
 */
function parseAll(
  settings: readonly Setting[],
  build: BuildDefaults,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Parsed {
  checkSettings(settings);
  const byFlag = new Map(settings.map((setting) => [setting.flag, setting]));
  const fromFlags = new Map<Setting, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(flag);
    if (setting === undefined) throw new ConfigError(arg, 'unknown option (see --help)');
    if (eq !== -1) fromFlags.set(setting, arg.slice(eq + 1));
    else if (setting.boolean) fromFlags.set(setting, 'true');
    else {
      const value = argv[++i];
      if (value === undefined)
        throw new ConfigError(`${setting.flag} (${setting.env})`, 'missing value');
      fromFlags.set(setting, value);
    }
  }
  const values = new Map<Setting, unknown>();
  for (const setting of settings) {
    const raw = fromFlags.get(setting) ?? env[setting.env] ?? setting.default(build);
    values.set(setting, setting.parse(raw, `${setting.env} (${setting.flag})`));
  }
  return { kind: 'run', values };
}

/** `settings` resolved and typed (see `parseAll`), then checked together by `validate`. */
export function loadSettings<const S extends readonly Setting[]>(
  settings: S,
  build: BuildDefaults,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  validate?: (values: ConfigOf<S>) => void,
): { kind: 'help' } | { kind: 'version' } | { kind: 'run'; values: ConfigOf<S> } {
  const parsed = parseAll(settings, build, argv, env);
  if (parsed.kind !== 'run') return parsed;
  const values = collect(settings, (setting) => parsed.values.get(setting));
  validate?.(values);
  return { kind: 'run', values };
}

/** Router settings plus any extension settings (their values stay in `values`). */
export function loadRouterConfig(
  build: BuildDefaults,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  settings: readonly Setting[] = ROUTER_SETTINGS,
): CliRequest {
  const parsed = parseAll(settings, build, argv, env);
  if (parsed.kind !== 'run') return parsed;
  const config: RouterConfig = {
    ...collect(ROUTER_SETTINGS, (setting) => parsed.values.get(setting)),
    build,
  };
  if (config.source === 'file' && config.sourceFile === '') {
    throw new ConfigError('SOURCE_FILE (--file)', 'required when SOURCE is file');
  }
  if (config.tlsPort !== undefined && config.tlsPort !== 0 && config.tlsPort === config.port) {
    throw new ConfigError('TLS_PORT (--tls-port)', 'must differ from PORT');
  }
  return { kind: 'run', config, values: parsed.values };
}

export function helpText(
  build: BuildDefaults,
  settings: readonly Setting[],
  summary: string,
): string {
  const lines = [
    `Usage: ${build.name} [options]`,
    '',
    summary,
    '',
    'Every option can also be set with its environment variable; flags win.',
    '',
  ];
  for (const setting of settings) {
    const def = setting.default(build);
    lines.push(
      `  ${setting.flag}${setting.boolean ? '' : ' VALUE'}  (env ${setting.env}, default ${def === '' ? '""' : def})`,
    );
    lines.push(`      ${setting.description}`);
  }
  lines.push(
    '  --help     Show this help and exit.',
    '  --version  Print the version and exit.',
    '',
  );
  lines.push(
    'Exit status: 0 after a clean shutdown, 2 for invalid configuration, 1 for other failures.',
  );
  return lines.join('\n');
}
