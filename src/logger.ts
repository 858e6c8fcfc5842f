import type { LogLevel } from './config';

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** One JSON object per line on stdout, below `level` dropped. Errors in fields are expanded to message and stack. */
export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = SEVERITY[level];
  const log = (severity: Exclude<LogLevel, 'silent'>) => (message: string, fields: LogFields = {}) => {
    if (SEVERITY[severity] < threshold) return;
    const entry: LogFields = { time: new Date().toISOString(), level: severity, msg: message };
    for (const [key, value] of Object.entries(fields)) {
      entry[key] = value instanceof Error ? { message: value.message, stack: value.stack, code: (value as { code?: unknown }).code } : value;
    }
    write(`${JSON.stringify(entry)}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
