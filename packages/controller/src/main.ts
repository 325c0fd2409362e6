import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, createLogger, shareDispatcher, VERSION } from '@podrouter/core';
import { type ControllerConfig, controllerHelp, loadControllerConfig } from './config.ts';
import { AliasController } from './controller.ts';

function configure(): { config: ControllerConfig; kubeConfig: KubeConfig } | undefined {
  const request = loadControllerConfig(process.argv.slice(2), process.env);
  if (request.kind === 'help') {
    process.stdout.write(`${controllerHelp()}\n`);
    return undefined;
  }
  if (request.kind === 'version') {
    process.stdout.write(`podrouter-controller ${VERSION}\n`);
    return undefined;
  }
  const config = {
    ...request.config,
    identity: request.config.identity || `${hostname()}_${process.pid}`,
  };
  const kubeConfig = new KubeConfig();
  try {
    if (config.kubeconfig !== '') kubeConfig.loadFromFile(config.kubeconfig);
    else kubeConfig.loadFromCluster();
    if (kubeConfig.getCurrentCluster() === null) throw new Error('no current cluster');
    shareDispatcher(kubeConfig);
  } catch (error) {
    throw new ConfigError(
      'KUBECONFIG (--kubeconfig)',
      `no usable Kubernetes configuration (${(error as Error).message}); run in a cluster or set KUBECONFIG`,
    );
  }
  return { config, kubeConfig };
}

let prepared: ReturnType<typeof configure>;
try {
  prepared = configure();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`podrouter-controller: ${error.message}\n`);
  process.exit(2);
}
if (prepared !== undefined) {
  const { config, kubeConfig } = prepared;
  const logger = createLogger('podrouter-controller', config.logLevel);
  const controller = new AliasController({ config, kubeConfig, logger });
  try {
    await controller.start();
  } catch (error) {
    logger.fatal({ err: error }, 'cannot start');
    process.exit(1);
  }
  const stop = () => {
    controller.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.fatal({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
