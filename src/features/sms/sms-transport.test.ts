import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyNotifyError, parseRetryAfter } from './transports/notify.transport.ts';
import { PermanentSmsError, ProviderConfigurationSmsError, RetryableSmsError, safeReason } from './transports/sms-transport.ts';
import { TokenBucket } from './token-bucket.ts';

const axiosError = (status: number | undefined, data?: unknown, headers: Record<string, string> = {}, code?: string) => ({
  isAxiosError: true,
  code,
  response: status === undefined ? undefined : { status, data, headers },
});

test('Retry-After is read as seconds or an HTTP date, and ignored when odd', () => {
  const now = Date.parse('2026-11-26T10:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7);
  assert.equal(parseRetryAfter('Thu, 26 Nov 2026 10:01:00 GMT', now), 60);
  assert.equal(parseRetryAfter('Thu, 26 Nov 2026 09:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter('999999', now), 86_400);
});

test('Notify errors are sorted into permanent, retryable and problems with our set-up', () => {
  const bad = classifyNotifyError(axiosError(400, { errors: [{ error: 'ValidationError', message: 'phone_number Not a UK mobile number' }] }));
  assert.ok(bad instanceof PermanentSmsError);
  assert.equal(bad.reason, 'Notify 400 ValidationError: phone_number Not a UK mobile number');
  assert.ok(classifyNotifyError(axiosError(403, { errors: [{ error: 'AuthError', message: 'Invalid token' }] })) instanceof ProviderConfigurationSmsError);
  for (const status of [500, 502, 503, 504]) assert.ok(classifyNotifyError(axiosError(status, {})) instanceof RetryableSmsError);
  const limited = classifyNotifyError(axiosError(429, {}, { 'retry-after': '30' }));
  assert.ok(limited instanceof RetryableSmsError);
  assert.equal(limited.retryAfterSeconds, 30);
  const noHeader = classifyNotifyError(axiosError(429, {}));
  assert.ok(noHeader instanceof RetryableSmsError);
  assert.equal(noHeader.retryAfterSeconds, undefined);
  const timeout = classifyNotifyError(axiosError(undefined, undefined, {}, 'ECONNABORTED'));
  assert.ok(timeout instanceof RetryableSmsError);
  assert.equal(timeout.reason, 'Notify did not answer (ECONNABORTED)');
  assert.equal(classifyNotifyError(axiosError(undefined, undefined, {}, 'ERR_CANCELED')).reason, 'Notify did not answer (timeout)');
  assert.ok(classifyNotifyError(new Error('sendSms() has an invalid option')) instanceof PermanentSmsError);
});

test('a refused key or an unknown template is our set-up, not the patient: a provider problem, never a permanent failure', () => {
  const problem = (status: number, error: string, message: string) => classifyNotifyError(axiosError(status, { status_code: status, errors: [{ error, message }] }));
  const authentication = [
    problem(403, 'AuthError', 'Invalid token: API key not found'),
    problem(403, 'AuthError', 'Error: Your system clock must be accurate to within 30 seconds'),
    problem(401, 'AuthError', 'Unauthorized: authentication token must be provided'),
  ];
  for (const error of authentication) {
    assert.ok(error instanceof ProviderConfigurationSmsError, error.reason);
    assert.equal(error.problem, 'authentication');
  }
  assert.equal(authentication[0]!.reason, 'Notify 403 AuthError: Invalid token: API key not found');

  const configuration = [
    problem(400, 'BadRequestError', 'Template not found'),
    problem(400, 'ValidationError', 'template_id is not a valid UUID'),
    problem(400, 'BadRequestError', 'Missing personalisation: message'),
    problem(400, 'BadRequestError', "Can't send to this recipient using a team-only API key"),
    problem(400, 'BadRequestError', "Can't send to this recipient when service is in trial mode – see https://www.notifications.service.gov.uk/trial-mode"),
    problem(400, 'BadRequestError', 'Service is not allowed to send text messages'),
    problem(404, 'NotFoundError', 'Not found'),
  ];
  for (const error of configuration) {
    assert.ok(error instanceof ProviderConfigurationSmsError, error.reason);
    assert.equal(error.problem, 'configuration');
  }
  assert.equal(configuration[0]!.reason, 'Notify 400 BadRequestError: Template not found');
  assert.equal(configuration[4]!.reason, "Notify 400 BadRequestError: Can't send to this recipient when service is in trial mode – see [link]");

  // A number that cannot receive texts is still the number's problem.
  for (const message of ['phone_number Not a UK mobile number', 'phone_number Not enough digits', 'phone_number Too many digits', 'phone_number Not a valid country prefix']) {
    const error = problem(400, 'ValidationError', message);
    assert.ok(error instanceof PermanentSmsError, message);
    assert.equal(error instanceof ProviderConfigurationSmsError, false);
  }
  // A template problem named beside a bad number: the set-up first (the number is checked once it is fixed).
  const both = classifyNotifyError(
    axiosError(400, { errors: [{ error: 'ValidationError', message: 'phone_number Not a UK mobile number' }, { error: 'ValidationError', message: 'template_id is not a valid UUID' }] }),
  );
  assert.ok(both instanceof ProviderConfigurationSmsError);
});

test('reasons kept for staff never carry a phone number or a link', () => {
  assert.equal(safeReason('Cannot send to +44 7700 900123 or 07700900123: see https://x.test/abc'), 'Cannot send to [number] or [number]: see [link]');
});

test('the token bucket lets a second of sends through at once, then one per interval, and pauses on request', async () => {
  let now = 0;
  const slept: number[] = [];
  const clock = { nowMs: () => now, sleep: async (ms: number) => { slept.push(ms); now += ms; } };
  const bucket = new TokenBucket(120, clock); // 2 a second
  await bucket.take();
  await bucket.take();
  assert.deepEqual(slept, []);
  await bucket.take();
  // 119 a minute refill (120 less the burst of 2, plus 1), so just over half a second each.
  assert.deepEqual(slept, [505]);
  bucket.pause(3000);
  await bucket.take();
  assert.deepEqual(slept, [505, 3000, 505], 'after the pause the bucket starts empty and refills');
});

test('the token bucket never allows more than the rate in any 60 seconds, bursts included', async () => {
  for (const ratePerMinute of [1, 7, 60, 120, 3000]) {
    let now = 0;
    const clock = { nowMs: () => now, sleep: async (ms: number) => void (now += ms) };
    const bucket = new TokenBucket(ratePerMinute, clock);
    const sends: number[] = [];
    // Busy for three minutes, then idle long enough to refill completely, then busy again.
    for (const until of [180_000, 400_000]) {
      if (until === 400_000) now = 300_000;
      while (now < until) {
        await bucket.take();
        sends.push(now);
      }
    }
    let most = 0;
    for (let i = 0, j = 0; i < sends.length; i++) {
      while (sends[i]! - sends[j]! >= 60_000) j++;
      most = Math.max(most, i - j + 1);
    }
    assert.ok(most <= ratePerMinute, `${ratePerMinute}/min: ${most} sends in one 60 s window`);
    assert.ok(most >= ratePerMinute * 0.97, `${ratePerMinute}/min: the bucket still uses the limit (${most} in the busiest minute)`);
  }
});
