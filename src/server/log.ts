import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Nothing secret is ever passed to the logger; the redaction list is a
 * second line of defence in case a future change logs a whole request or key object.
 */
export function createLogger(level: string = process.env['TRENT_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({
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
  });
}
