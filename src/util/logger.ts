/** A line logger: `<ISO time> <level> <message>` to stderr, with a level threshold. */

export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];
export type Logger = (level: 'info' | 'warn' | 'error', message: string) => void;

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(threshold: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  return (level, message) => {
    if (rank[level] < rank[threshold]) return;
    write(`${new Date().toISOString()} ${level.padEnd(5)} ${message}\n`);
  };
}

export const silentLogger: Logger = () => {};
