import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDatabaseUnavailable } from './unavailable.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
// drizzle wraps the driver's error.
const wrapped = (cause: Error) => Object.assign(new Error('Failed query: select 1\nparams: '), { params: [], cause });

test('the database being away is recognised, through drizzle’s wrapper too', () => {
  for (const error of [
    withCode('57P01', 'terminating connection due to administrator command'),
    withCode('57P03', 'the database system is starting up'),
    withCode('08006'),
    withCode('53300', 'sorry, too many clients already'),
    withCode('ECONNREFUSED'),
    withCode('ECONNRESET'),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    new Error('Client has encountered a connection error and is not queryable'),
    withCode('55000', 'database "dovecote" is not currently accepting connections'),
  ]) {
    assert.equal(isDatabaseUnavailable(error), true, error.message);
    assert.equal(isDatabaseUnavailable(wrapped(error)), true, `wrapped: ${error.message}`);
  }
});

test('bugs and bad data stay 500s', () => {
  for (const error of [
    withCode('23505', 'duplicate key value violates unique constraint'),
    withCode('22007', 'invalid input syntax for type date'),
    withCode('42P01', 'relation does not exist'),
    withCode('55000', 'cannot execute in a read-only transaction'),
    new TypeError('Cannot read properties of undefined'),
    undefined,
    'a string',
  ]) {
    assert.equal(isDatabaseUnavailable(error), false, String((error as Error)?.message ?? error));
  }
});
