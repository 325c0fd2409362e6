import type { Logger } from '../observability/log.ts';
import type { Router } from '../router.ts';
import type { Source } from '../sources/types.ts';
import { isMessage, type ToPrimary, type ToWorker } from './messages.ts';
import { StateMirror } from './state-delta.ts';

/** A worker's source: the primary owns the real one and sends each state over IPC. */
export const PRIMARY_SOURCE: Source = {
  kind: 'primary',
  start: () => {},
  stop: async () => {},
};

/**
 * Runs `router` as one worker of a `WORKERS` > 1 router: it builds each state the primary
 * sends into its own table (the table holds compiled pipelines, balancers and sockets, none
 * of which can cross a process boundary), starts listening once it has its first table,
 * answers the primary's metrics and `/routes` requests, and drains when the primary says so.
 * Signals are the primary's to handle: a Ctrl-C reaches the whole process group, and a
 * worker that exited on it would be restarted instead of drained.
 */
export function serveAsWorker(router: Router, logger: Logger, close: () => Promise<void>): void {
  const send = (message: ToPrimary) => {
    if (process.connected) process.send?.(message);
  };
  let listening = false;
  let stopping = false;
  const stop = (delayMs: number) => {
    if (stopping) return;
    stopping = true;
    router
      .shutdown(delayMs)
      .then(close)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.fatal({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  const mirror = new StateMirror();
  const apply = (message: Extract<ToWorker, { type: 'state' }>) => {
    const state = mirror.apply(message.payload);
    if (state === undefined) {
      logger.warn(
        { version: message.version },
        'a state change did not follow the last state; asking for the whole state',
      );
      send({ type: 'hello' });
      return;
    }
    let pods: ReturnType<Router['applyState']>['pods'];
    try {
      pods = router.applyState(state, message.version).pods;
    } catch (error) {
      router.metrics.reloadFailed();
      logger.error({ err: error }, 'building the route table failed; keeping the last good table');
      send({ type: 'failed', version: message.version });
      return;
    }
    send({ type: 'applied', version: message.version, ...(message.report ? { pods } : {}) });
    // Listen only with a table: a replacement worker must not answer 404 while it builds.
    if (listening) return;
    listening = true;
    router.start(message.ports).then(
      ({ port, tlsPort }) =>
        send({ type: 'serving', port, ...(tlsPort !== undefined ? { tlsPort } : {}) }),
      (error: unknown) => {
        logger.fatal({ err: error }, 'cannot start');
        process.exit(1);
      },
    );
  };
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message) || stopping) return;
    if (message.type === 'state') apply(message);
    else if (message.type === 'metrics') {
      router.metricsJson().then(
        (metrics) => send({ type: 'metrics', id: message.id, metrics }),
        (error: unknown) => logger.error({ err: error }, 'collecting metrics failed'),
      );
    } else if (message.type === 'routes') {
      // Through JSON: an extension's status may hold what structured clone refuses.
      send({
        type: 'routes',
        id: message.id,
        view: JSON.parse(JSON.stringify(router.routesView())),
      });
    } else if (message.type === 'drain') stop(message.delayMs);
  });
  // The primary is gone (killed): nobody will send states or drain us, so drain now.
  process.on('disconnect', () => stop(0));
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  send({ type: 'hello' });
}
