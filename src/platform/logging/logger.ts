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

/**
 * Errors for the log, without the values a failed query carries. drizzle's DrizzleQueryError puts the
 * query's parameters (a date of birth, an NHS number, a phone number, a message) in its message and a
 * `params` property, and PostgreSQL's errors put row values in `detail` ("Key (nhs_number)=(...)").
 * Kept: the type, the message of anything that is not a failed query, the stack frames (never the
 * message again at their head), the SQL text (placeholders, not values), and the driver's SQLSTATE,
 * constraint, table and column, for each cause in turn.
 */
export function safeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return typeof error === 'object' ? '[non-error thrown]' : error;
  const e = error as Error & Record<string, unknown>;
  const isFailedQuery = 'params' in e;
  const header = `${e.name}: ${e.message}`;
  const stack = typeof e.stack === 'string' && e.stack.startsWith(header) ? e.stack.slice(header.length).replace(/^\n/, '') : undefined;
  // PostgreSQL's own messages quote values too ('invalid input syntax for type date: "..."'): for a
  // driver error the SQLSTATE and the fields below say what happened without them.
  const sqlState = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  const out: Record<string, unknown> = {
    type: e.constructor?.name ?? e.name,
    message: isFailedQuery ? 'Failed query (parameters not logged)' : sqlState ? `PostgreSQL error ${sqlState} (message not logged)` : e.message,
    stack,
  };
  if (isFailedQuery && typeof e.query === 'string') out.query = e.query;
  for (const key of ['code', 'severity', 'constraint', 'table', 'column', 'routine'] as const) {
    if (typeof e[key] === 'string') out[key] = e[key];
  }
  if (e.cause !== undefined && depth < 3) out.cause = safeError(e.cause, depth + 1);
  return out;
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      err: safeError,
      // Only the route pattern is logged: a patient link's URL path is its secret token.
      req(req: { method: string; routeOptions?: { url?: string }; url: string; id: string }) {
        return { id: req.id, method: req.method, route: req.routeOptions?.url ?? '(unmatched)' };
      },
    },
  };
}
