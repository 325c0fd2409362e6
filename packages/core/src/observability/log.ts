import { type Logger, pino } from 'pino';

export type { Logger };

/** One JSON object per line on stdout, with the build name on every line. */
export function createLogger(name: string, level: string): Logger {
  return pino({
    name,
    level,
    base: { name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
