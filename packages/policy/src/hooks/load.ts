import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, type Logger } from '@podrouter/core';
import { PolicyError, PolicyErrorCodes } from '../errors.ts';
import { PHASES, type StepDefinition } from '../pipeline/types.ts';
import type { CustomHook, HooksExport } from './api.ts';

const SETTING = 'HOOKS_MODULE (--hooks-module)';

/** Stops the router at start (exit 2): a hook that cannot run must not be silently skipped. */
const invalid = (message: string): ConfigError =>
  new ConfigError(SETTING, `${message} (${PolicyErrorCodes.HOOKS_MODULE_INVALID})`);

function checkHook(hook: unknown, where: string): CustomHook {
  const candidate = hook as Partial<CustomHook> | null;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.name !== 'string' ||
    typeof candidate.run !== 'function' ||
    (candidate.phase !== 'request' && candidate.phase !== 'before-proxy')
  ) {
    throw invalid(`${where}: a hook needs name, phase (request | before-proxy) and run()`);
  }
  const order = candidate.order ?? 50;
  if (!Number.isInteger(order) || order < 0 || order > 99) {
    throw invalid(`${where}: hook "${candidate.name}" order must be 0-99`);
  }
  return candidate as CustomHook;
}

/** A custom hook as a pipeline step: what it throws becomes a coded error naming it. */
export function customStep(hook: CustomHook): StepDefinition {
  const fail = (error: unknown): never => {
    throw new PolicyError(PolicyErrorCodes.HOOK_FAILED, `custom hook "${hook.name}" failed`, {
      cause: error,
    });
  };
  return {
    name: `hook:${hook.name}`,
    order: PHASES[hook.phase] + (hook.order ?? 50),
    compile(route) {
      if (hook.appliesTo && !hook.appliesTo(route)) return null;
      return (context) => {
        try {
          const result = hook.run(context);
          return result instanceof Promise ? result.catch(fail) : result;
        } catch (error) {
          return fail(error);
        }
      };
    },
  };
}

/** Imports each module of the comma-separated HOOKS_MODULE list, in order. */
export async function loadHooks(
  paths: readonly string[],
  setup: { tier: 'public' | 'private'; logger: Logger },
): Promise<StepDefinition[]> {
  const steps: StepDefinition[] = [];
  for (const path of paths) {
    const file = isAbsolute(path) ? path : resolve(process.cwd(), path);
    let exported: HooksExport | undefined;
    try {
      exported = ((await import(pathToFileURL(file).href)) as { default?: HooksExport }).default;
    } catch (error) {
      throw invalid(`cannot load ${path}: ${(error as Error).message}`);
    }
    if (exported === undefined) throw invalid(`${path} has no default export`);
    const hooks = typeof exported === 'function' ? await exported(setup) : exported;
    if (!Array.isArray(hooks)) throw invalid(`${path} must export a list of hooks`);
    hooks.forEach((hook, index) => {
      steps.push(customStep(checkHook(hook, `${path}[${index}]`)));
    });
    setup.logger.info(
      { module: path, hooks: hooks.map((hook: CustomHook) => hook.name) },
      'custom hooks loaded',
    );
  }
  return steps;
}
