import { ConfigError } from '../errors.ts';
import type { Setting } from './settings.ts';
import { type BuildDefaults, ROUTER_SETTINGS, type RouterConfig } from './settings.ts';

export type CliRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: RouterConfig; extra: Record<string, unknown> };

/**
 * Resolves every setting from, in order of precedence: flag, environment variable, build
 * default. Throws `ConfigError` naming the setting for anything invalid or unknown.
 */
export function loadSettings<T>(
  settings: readonly Setting[],
  build: BuildDefaults,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  validate?: (values: Record<string, unknown>) => void,
): { kind: 'help' } | { kind: 'version' } | { kind: 'run'; values: T } {
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
  const values: Record<string, unknown> = {};
  for (const setting of settings) {
    const raw = fromFlags.get(setting) ?? env[setting.env] ?? setting.default(build);
    values[setting.key] = setting.parse(raw, `${setting.env} (${setting.flag})`);
  }
  validate?.(values);
  return { kind: 'run', values: values as T };
}

/** Router settings plus any extension settings (returned apart, in `extra`). */
export function loadRouterConfig(
  build: BuildDefaults,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  settings: readonly Setting[] = ROUTER_SETTINGS,
): CliRequest {
  const result = loadSettings<Record<string, unknown>>(settings, build, argv, env, (values) => {
    if (values.source === 'file' && values.sourceFile === '') {
      throw new ConfigError('SOURCE_FILE (--file)', 'required when SOURCE is file');
    }
    if (values.tlsPort !== undefined && values.tlsPort !== 0 && values.tlsPort === values.port) {
      throw new ConfigError('TLS_PORT (--tls-port)', 'must differ from PORT');
    }
  });
  if (result.kind !== 'run') return result;
  const routerKeys = new Set<string>(ROUTER_SETTINGS.map((setting) => setting.key));
  const config: Record<string, unknown> = { build };
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result.values)) {
    if (routerKeys.has(key)) config[key] = value;
    else extra[key] = value;
  }
  return { kind: 'run', config: config as unknown as RouterConfig, extra };
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
