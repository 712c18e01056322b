/** A line logger: `<ISO time> <level> <message>` to stderr, with a level threshold. */

export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];
export type Logger = (level: LogLevel, message: string) => void;

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * The longest message written whole. A client may send strings of up to 64 KiB (a client id, a
 * topic or group name, text in an error); a longer message keeps its first and last half of this
 * and names how much was cut between, so one connection cannot write 64 KiB per log line while
 * the line still says what happened (its end: a reason, an error).
 */
export const logMessageCharsMax = 1024;

/**
 * One line per message: control characters in it (a client id, a topic name or an error text
 * from a client may carry a line break or a terminal escape) are written as `\xNN`, so that no
 * client can forge a log line or reach the terminal reading the log. A message longer than
 * `logMessageCharsMax` is cut in its middle (`…[cut N chars]…`).
 */
export function createLogger(threshold: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  return (level, message) => {
    if (rank[level] < rank[threshold]) return;
    write(`${new Date().toISOString()} ${level.padEnd(5)} ${escapeControls(cutMiddle(message))}\n`);
  };
}

/** The message within `logMessageCharsMax`, its middle replaced by a marker; no surrogate pair is split. */
export function cutMiddle(message: string): string {
  if (message.length <= logMessageCharsMax) return message;
  let headEnd = logMessageCharsMax / 2;
  let tailStart = message.length - logMessageCharsMax / 2;
  if (isLowSurrogate(message.charCodeAt(headEnd))) headEnd--;
  if (isLowSurrogate(message.charCodeAt(tailStart))) tailStart++;
  return `${message.slice(0, headEnd)}…[cut ${tailStart - headEnd} chars]…${message.slice(tailStart)}`;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

// C0 controls, DEL and C1 controls (U+0080..U+009F, among them the one-character CSI).
const controls = /[\u0000-\u001f\u007f-\u009f]/g;

function escapeControls(message: string): string {
  return message.replace(controls, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export const silentLogger: Logger = () => {};
