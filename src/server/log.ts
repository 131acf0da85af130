import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Nothing secret is ever passed to the logger; the redaction list is a
 * second line of defence in case a future change logs a whole request or key object.
 */
export function createLogger(level: string = process.env['TRENT_LOG_LEVEL'] ?? 'info', file?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { app: 'trent' },
    redact: {
      paths: [
        'headers.authorization',
        '*.headers.authorization',
        'secretAccessKey',
        '*.secretAccessKey',
        'SecretAccessKey',
        '*.SecretAccessKey',
        'Plaintext',
        '*.Plaintext',
        'passphrase',
        '*.passphrase',
      ],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // A log file too (the serving process's, see `trent logs`): every line goes to standard output and to the file.
  return file ? pino(options, pino.multistream([{ level: 'trace', stream: process.stdout }, { level: 'trace', stream: file }])) : pino(options);
}
