/** A line logger: `<ISO time> <level> <message>` to stderr, with a level threshold. */

export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];
export type Logger = (level: LogLevel, message: string) => void;

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * One line per message: control characters in it (a client id, a topic name or an error text
 * from a client may carry a line break or a terminal escape) are written as `\xNN`, so that no
 * client can forge a log line or reach the terminal reading the log.
 */
export function createLogger(threshold: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  return (level, message) => {
    if (rank[level] < rank[threshold]) return;
    write(`${new Date().toISOString()} ${level.padEnd(5)} ${escapeControls(message)}\n`);
  };
}

// C0 controls, DEL and C1 controls (U+0080..U+009F, among them the one-character CSI).
const controls = /[\u0000-\u001f\u007f-\u009f]/g;

function escapeControls(message: string): string {
  return message.replace(controls, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export const silentLogger: Logger = () => {};
