import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, createLogger, shareDispatcher, VERSION } from '@podrouter/core';
import { cleanupHelp, loadCleanupConfig } from './config.ts';
import { kubeCleanupApi } from './kube-api.ts';
import { CleanupError, runCleanup } from './run.ts';

// `podrouter-controller cleanup [options]`: exit 0 when nothing of the installation is left,
// 1 when it could not finish (the message says why), 2 for bad options.
let request: ReturnType<typeof loadCleanupConfig>;
const kubeConfig = new KubeConfig();
try {
  request = loadCleanupConfig(process.argv.slice(3), process.env);
  if (request.kind === 'run') {
    try {
      if (request.config.kubeconfig !== '') kubeConfig.loadFromFile(request.config.kubeconfig);
      else kubeConfig.loadFromCluster();
      if (kubeConfig.getCurrentCluster() === null) throw new Error('no current cluster');
      shareDispatcher(kubeConfig);
    } catch (error) {
      throw new ConfigError(
        'KUBECONFIG (--kubeconfig)',
        `no usable Kubernetes configuration (${(error as Error).message}); run in a cluster or set KUBECONFIG`,
      );
    }
  }
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`podrouter-controller cleanup: ${error.message}\n`);
  process.exit(2);
}
if (request.kind === 'help') process.stdout.write(`${cleanupHelp()}\n`);
else if (request.kind === 'version') process.stdout.write(`podrouter-controller ${VERSION}\n`);
else {
  const { config } = request;
  const logger = createLogger('podrouter-controller-cleanup', config.logLevel);
  try {
    const result = await runCleanup(
      kubeCleanupApi(kubeConfig),
      {
        routerService: config.routerService,
        controllerPods:
          config.controllerSelector === ''
            ? undefined
            : { namespace: config.controllerNamespace, selector: config.controllerSelector },
        waitTimeoutMs: config.waitTimeoutMs,
        pollMs: 1000,
        lease:
          config.leaseName === ''
            ? undefined
            : { namespace: config.leaseNamespace, name: config.leaseName },
      },
      {
        now: () => Date.now(),
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        log: (message, fields) => logger.info(fields ?? {}, message),
      },
    );
    logger.info(
      {
        routerService: config.routerService,
        deleted: result.deleted.length,
        kept: result.kept,
        leaseDeleted: result.leaseDeleted,
      },
      'cleanup done',
    );
  } catch (error) {
    const code = error instanceof CleanupError ? error.code : undefined;
    logger.error({ err: error, code }, 'cleanup failed');
    process.exitCode = 1;
  }
}
