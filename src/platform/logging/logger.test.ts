import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { sql } from 'drizzle-orm';
import { createTestDatabase } from '../../../test/helpers/database.ts';
import { loggerOptions, safeError } from './logger.ts';

const DOB = '1984-13-45';
const NHS_NUMBER = '9990000018';

test('a failed query is logged without its parameters or the values PostgreSQL quotes back', async (t) => {
  const testDatabase = await createTestDatabase();
  t.after(() => testDatabase.drop());
  const failure = await testDatabase.database.db.execute(sql`SELECT ${DOB}::date AS d, ${NHS_NUMBER} AS n`).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(failure instanceof Error, 'the query fails');
  assert.ok(JSON.stringify({ message: failure.message, cause: String((failure as Error & { cause?: unknown }).cause) }).includes(DOB), 'the raw error does carry the value');

  const lines: string[] = [];
  const logger = pino(loggerOptions('info'), new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
  logger.error({ err: failure }, 'request failed');
  const logged = lines.join('');
  assert.equal(logged.includes(DOB), false, logged);
  assert.equal(logged.includes(NHS_NUMBER), false, logged);
  const err = JSON.parse(logged).err;
  assert.equal(err.message, 'Failed query (parameters not logged)');
  assert.match(err.query, /select \$1::date as d, \$2 as n/i);
  assert.match(err.cause.code, /^22/, 'the SQLSTATE says what went wrong (data exception)');
  assert.match(err.stack, /^\s+at /, 'the stack is frames only');
});

test('other errors keep their message and frames; a message cannot smuggle lines into the stack', () => {
  const plain = safeError(new Error('the worker stopped')) as { message: string; stack: string; type: string };
  assert.equal(plain.message, 'the worker stopped');
  assert.equal(plain.type, 'Error');
  assert.match(plain.stack, /^\s+at /);

  const tricky = new Error(`reply was:\n    at ${DOB}`);
  const serialized = safeError(tricky) as { stack: string };
  assert.equal(serialized.stack.includes(DOB), false);
});
