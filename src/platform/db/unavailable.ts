// Is this error the database being away (restarting, failing over, refusing connections), rather than
// a bug? Such a request gets 503 with Retry-After instead of 500: it is temporary, load balancers and
// API clients treat it so, and the log says "database unavailable" instead of a stack trace per request
// during an outage. Conservative: anything not recognised stays a 500.

/** What a 503 for a database outage asks clients to wait (a restart or fail-over takes seconds). */
export const DATABASE_RETRY_AFTER_SECONDS = 10;

// PostgreSQL SQLSTATEs: class 08 (connection exception), 57P01-57P03 (shut down by an administrator,
// crashed, cannot connect now), 53300 (too many connections).
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
// node-postgres and pg-pool say these in words, without a code.
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'is not currently accepting connections',
  'the database system is starting up',
  'the database system is shutting down',
];

export function isDatabaseUnavailable(error: unknown): boolean {
  // drizzle wraps driver errors (DrizzleQueryError), so look along the cause chain.
  let current = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = typeof current.code === 'string' ? current.code : '';
    if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE_CODES.has(code)) return true;
    const message = typeof current.message === 'string' ? current.message : '';
    if (UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return true;
    current = current.cause as typeof current;
  }
  return false;
}
