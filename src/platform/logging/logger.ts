// Logging. Code must not log patient data in the first place; these redaction paths are the net under
// that rule, not the rule itself.
import type { LoggerOptions } from 'pino';

export const redactPaths = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  '*.password',
  '*.dateOfBirth',
  '*.dob',
  '*.nhsNumber',
  '*.phone',
  '*.phoneE164',
  '*.mobile',
  '*.code',
  '*.token',
  '*.body',
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      // Only the route pattern is logged: a patient link's URL path is its secret token.
      req(req: { method: string; routeOptions?: { url?: string }; url: string; id: string }) {
        return { id: req.id, method: req.method, route: req.routeOptions?.url ?? '(unmatched)' };
      },
    },
  };
}
