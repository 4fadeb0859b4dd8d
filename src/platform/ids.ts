// Ids from outside (a URL, a form) are checked for shape before they reach a query.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id cannot name a row: callers answer "not found" rather than letting the database fail. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
