import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'json' | 'pretty';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/**
 * Structured logs: JSON lines for machines, one readable line per event on a
 * terminal. Written to stderr so that stdout stays for command output
 * (`status --json`).
 */
export function createLogger(level: LogLevel = 'info', format: LogFormat = 'auto'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  const options = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (!pretty) return pino(options, pino.destination({ fd: 2, sync: true }));
  return pino(options, { write: (line: string) => process.stderr.write(prettyLine(line)) });
}

function prettyLine(line: string): string {
  const record = JSON.parse(line) as Record<string, unknown>;
  const time = String(record.time ?? '').slice(11, 23);
  const level = LEVEL_NAMES[Number(record.level)] ?? String(record.level);
  const fields = Object.entries(record)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level.padEnd(5)} ${String(record.msg ?? '')}${fields ? `  ${fields}` : ''}\n`;
}

/** A logger that drops everything (library use, tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
