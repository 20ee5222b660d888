// The process logger. Secrets never reach it: known secret-bearing fields are redacted and
// request lines carry the path only, never the query string (OIDC codes and states live there).
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  '*.password',
  '*.clientSecret',
  '*.client_secret',
  '*.secret',
  '*.privateKey',
  '*.private_key',
  '*.token',
  '*.ticket',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { service: 'airlock' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination ?? process.stdout,
  );
}
