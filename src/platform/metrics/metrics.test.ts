// GET /metrics (issue 15): what is counted, that no link token or patient detail reaches a label, and
// who may scrape it in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { databaseKind } from '../../../test/helpers/database.ts';
import { createTestConversation, CookieJar, latestSecurityCode, TEST_PATIENT } from '../../../test/helpers/factories.ts';
import { firstDevice, get, submitCode, submitDob } from '../../../test/helpers/patient.ts';
import { outboundSms } from '../db/schema.ts';
import { cleanupStack, eventually, readOutboundSms, startFastWorker, waitForSmsStatus } from '../../features/sms/sms-test-support.ts';
import { ProviderConfigurationSmsError, type SmsTransport } from '../../features/sms/transports/sms-transport.ts';
import { createMetrics } from './metrics.ts';
import { bearerTokenMatches } from './metrics.routes.ts';

const METRICS_TOKEN = 'metrics-token-long-enough-0123456789';

/** Every line of the text exposition format is a comment, blank, or `name{labels} value`. */
const SAMPLE_LINE = /^[a-z_:][a-z0-9_:]*(\{.*\})? ([-+0-9.eE]+|NaN|\+Inf|-Inf)$/i;

function assertPrometheusText(body: string) {
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(line, SAMPLE_LINE, `not a Prometheus sample line: ${line}`);
  }
}

/** The value of the sample with exactly this name and these labels (in the order prom-client writes them). */
function sample(body: string, nameAndLabels: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
}

function productionConfig(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://db.example/dovecote',
    PUBLIC_BASE_URL: 'https://dovecote.example.nhs.uk',
    NOTIFY_API_KEY: `key-${'a'.repeat(36)}-${'b'.repeat(36)}`,
    NOTIFY_TEMPLATE_ID: 't1',
    NOTIFY_CALLBACK_TOKEN: 'callback-token-long-enough',
    FILE_ENCRYPTION_KEYS: `f1:${Buffer.alloc(32, 1).toString('base64url')}`,
    FILE_SCANNER: 'clamd',
    STAFF_SECOND_FACTOR: 'required',
    ...extra,
  };
}

test('a patient opening a link: requests counted by route pattern, date-of-birth outcomes counted, no token anywhere', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const conversation = await createTestConversation(services);
  const jar = new CookieJar();
  assert.equal((await get(app, `/${conversation.token}`, jar)).statusCode, 200);
  const wrong = await submitDob(app, conversation.token, jar, '1990-01-01');
  assert.equal(wrong.statusCode, 400);
  const right = await submitDob(app, conversation.token, jar, TEST_PATIENT.dateOfBirth);
  assert.equal(right.statusCode, 303);
  assert.equal((await app.inject({ method: 'GET', url: '/no-such/page/here' })).statusCode, 404);

  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const body = res.body;
  assertPrometheusText(body);

  assert.equal(body.includes(conversation.token), false, 'the link token must not appear in the metrics');
  for (const secret of [TEST_PATIENT.nhsNumber, TEST_PATIENT.mobileNumber, TEST_PATIENT.dateOfBirth, conversation.linkId, conversation.patient.id]) {
    assert.equal(body.includes(secret), false, `metrics must not contain ${secret}`);
  }
  // Three GETs of the page (opening it, and once before each form post for its CSRF token), two posts.
  assert.equal(sample(body, 'dovecote_http_requests_total{method="GET",route="/:token",status_code="200"}'), 3);
  assert.equal(sample(body, 'dovecote_http_requests_total{method="POST",route="/:token",status_code="400"}'), 1);
  assert.equal(sample(body, 'dovecote_http_requests_total{method="POST",route="/:token",status_code="303"}'), 1);
  assert.equal(sample(body, 'dovecote_http_requests_total{method="GET",route="unmatched",status_code="404"}'), 1);
  assert.equal(sample(body, 'dovecote_http_request_duration_seconds_count{method="POST",route="/:token",status_code="303"}'), 1);
  assert.ok(body.includes('dovecote_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/:token",status_code="200"}'));
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="wrong"}'), 1);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="right"}'), 1);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="locked"}'), undefined);

  // Counters only go up: another wrong date of birth on a second browser is the second.
  await submitDob(app, conversation.token, new CookieJar(), '1990-01-02');
  const again = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.equal(sample(again, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="wrong"}'), 2);
  assert.equal(sample(again, 'dovecote_http_requests_total{method="GET",route="/metrics",status_code="200"}'), 1);

  // The process metrics are there too (event-loop lag among them), in this app's own registry.
  assert.ok(again.includes('nodejs_eventloop_lag_p99_seconds'));
  assert.ok(again.includes('process_cpu_user_seconds_total'));
});

test('security codes and a lock: sent, wrong, right, and the link locked by wrong dates of birth are counted', async (t) => {
  const { app, services, close } = await createTestApp({ now: new TestClock().now });
  t.after(close);
  const c = await createTestConversation(services);
  await firstDevice(app, c.token);
  const second = new CookieJar();
  assert.equal((await submitDob(app, c.token, second)).statusCode, 303);
  const code = await latestSecurityCode(services, c.linkId);
  const wrongCode = code === '000000' ? '111111' : '000000';
  assert.equal((await submitCode(app, c.token, second, wrongCode)).statusCode, 400);
  assert.equal((await submitCode(app, c.token, second, code)).statusCode, 303);
  const third = new CookieJar();
  for (let i = 0; i < 5; i++) await submitDob(app, c.token, third, '1990-01-01');

  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assertPrometheusText(body);
  assert.equal(body.includes(c.token), false);
  assert.equal(body.includes(code), false, 'the security code must not appear in the metrics');
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="security_code",outcome="sent"}'), 1);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="security_code",outcome="wrong"}'), 1);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="security_code",outcome="right"}'), 1);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="right"}'), 2);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="wrong"}'), 5);
  assert.equal(sample(body, 'dovecote_verification_outcomes_total{check="date_of_birth",outcome="locked"}'), 1);
  assert.ok(body.includes('route="/:token/code"'));
});

test('SMS: the outbox depth while queued, then sent texts and the provider latency once the worker sends', async (t) => {
  const defer = cleanupStack(t);
  const { app, services, close } = await createTestApp();
  defer(close);
  const conversation = await createTestConversation(services);
  const [queued] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const before = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assertPrometheusText(before);
  assert.equal(sample(before, 'dovecote_sms_outbox_queued_texts'), 1);
  const age = sample(before, 'dovecote_sms_outbox_oldest_queued_age_seconds');
  assert.ok(age !== undefined && age >= 0, `oldest queued age: ${age}`);
  assert.equal(sample(before, 'dovecote_sms_outbox_held_by_provider_texts'), 0);
  assert.equal(sample(before, 'dovecote_sms_texts_sent_total{kind="message_link"}'), undefined);
  assert.equal(sample(before, 'dovecote_sms_provider_configuration_errors_total{problem="authentication"}'), 0);
  assert.ok(before.includes('dovecote_job_queue_jobs{queue="send-sms",state="queued"}'), 'pg-boss queue counts are reported');
  if (databaseKind === 'postgres') {
    assert.ok(sample(before, 'dovecote_db_pool_connections{state="max"}')! >= 1);
    assert.equal(typeof sample(before, 'dovecote_db_pool_waiting_requests'), 'number');
  } else {
    assert.equal(before.includes('dovecote_db_pool_connections'), false, 'PGlite has no pool to report');
  }

  defer(await app.startWorkers());
  await waitForSmsStatus(services, queued!.id, ['sent']);
  const after = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assertPrometheusText(after);
  assert.equal(sample(after, 'dovecote_sms_texts_sent_total{kind="message_link"}'), 1);
  assert.equal(sample(after, 'dovecote_sms_provider_request_duration_seconds_count{transport="development",outcome="accepted"}'), 1);
  assert.equal(sample(after, 'dovecote_sms_outbox_queued_texts'), 0);
  assert.equal(sample(after, 'dovecote_sms_outbox_oldest_queued_age_seconds'), 0);
  assert.equal(after.includes(conversation.token), false);
});

test('a provider that refuses our API key: counted as a configuration error, the held text shows in the gauge and on /health', async (t) => {
  const defer = cleanupStack(t);
  const { app, services, close } = await createTestApp();
  defer(close);
  const conversation = await createTestConversation(services);
  const [queued] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  const refusing: SmsTransport = {
    name: 'notify',
    send: async () => {
      throw new ProviderConfigurationSmsError('authentication', 'Invalid token: API key not found');
    },
  };
  defer(await startFastWorker(services, { transport: refusing }));
  const held = await eventually(async () => {
    const row = await readOutboundSms(services, queued!.id);
    return row.status === 'queued' && row.providerProblem ? row : undefined;
  }, 'the text held by the provider problem');
  assert.equal(held.providerProblem, 'authentication');

  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assertPrometheusText(body);
  assert.equal(sample(body, 'dovecote_sms_provider_configuration_errors_total{problem="authentication"}'), 1);
  assert.equal(sample(body, 'dovecote_sms_texts_failed_total{reason="provider_authentication"}'), 1);
  assert.equal(sample(body, 'dovecote_sms_provider_request_duration_seconds_count{transport="notify",outcome="provider_problem"}'), 1);
  assert.equal(sample(body, 'dovecote_sms_outbox_held_by_provider_texts'), 1);
  assert.equal(sample(body, 'dovecote_sms_outbox_queued_texts'), 1);

  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { status: 'ok', sms: { heldByProviderProblem: 1, providerConfigurationErrors: 1 } });
});

test('production: /metrics is off without METRICS_TOKEN, and asks for the token with one', async (t) => {
  const off = await createTestApp({ config: productionConfig() });
  t.after(off.close);
  const missing = await off.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(missing.statusCode, 404);
  assert.doesNotMatch(missing.body, /dovecote_/);

  const on = await createTestApp({ config: productionConfig({ METRICS_TOKEN }) });
  t.after(on.close);
  const none = await on.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(none.statusCode, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer');
  assert.doesNotMatch(none.body, /dovecote_/);
  const wrong = await on.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}x` } });
  assert.equal(wrong.statusCode, 401);
  const basic = await on.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Basic ${METRICS_TOKEN}` } });
  assert.equal(basic.statusCode, 401);
  const right = await on.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(right.statusCode, 200);
  assertPrometheusText(right.body);
  // The refused scrapes were counted like any request, by pattern.
  assert.equal(sample(right.body, 'dovecote_http_requests_total{method="GET",route="/metrics",status_code="401"}'), 3);
  // No session, no CSRF cookie for a scraper.
  assert.equal(right.headers['set-cookie'], undefined);
});

test('outside production a METRICS_TOKEN, when set, is asked for too', async (t) => {
  const { app, close } = await createTestApp({ config: { METRICS_TOKEN } });
  t.after(close);
  assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 200);
});

test('scrapes are not logged at info level', async (t) => {
  const logLines: string[] = [];
  const { app, close } = await createTestApp({ logLines });
  t.after(close);
  await app.inject({ method: 'GET', url: '/metrics' });
  await app.inject({ method: 'GET', url: '/health' });
  const routes = logLines.map((l) => (JSON.parse(l) as { req?: { route?: string } }).req?.route).filter(Boolean);
  assert.ok(routes.includes('/health'), 'other requests are still logged');
  assert.equal(routes.includes('/metrics'), false);
});

test('each app has its own registry; labels stay within fixed sets', async () => {
  const a = createMetrics();
  const b = createMetrics();
  a.verification('security_code', 'burned');
  a.nhsLoginFailure('token_error');
  a.nhsLoginFailure('something a provider made up');
  a.httpRequest({ method: 'PROPFIND', route: 'unmatched', statusCode: 404 }, 0.001);
  const textA = await a.scrape();
  const textB = await b.scrape();
  assertPrometheusText(textA);
  assert.equal(sample(textA, 'dovecote_verification_outcomes_total{check="security_code",outcome="burned"}'), 1);
  assert.equal(sample(textB, 'dovecote_verification_outcomes_total{check="security_code",outcome="burned"}'), undefined);
  assert.equal(sample(textA, 'dovecote_nhs_login_failures_total{reason="token_error"}'), 1);
  assert.equal(sample(textA, 'dovecote_nhs_login_failures_total{reason="other"}'), 1);
  assert.equal(sample(textA, 'dovecote_http_requests_total{method="OTHER",route="unmatched",status_code="404"}'), 1);
});

test('a source that fails is counted and its gauges say NaN; the scrape still answers', async () => {
  const problems: string[] = [];
  const metrics = createMetrics({
    outbox: async () => {
      throw new Error('database unreachable');
    },
    onSourceError: (source) => void problems.push(source),
  });
  const text = await metrics.scrape();
  assertPrometheusText(text);
  assert.ok(Number.isNaN(sample(text, 'dovecote_sms_outbox_queued_texts')), 'unknown, not 0');
  assert.equal(sample(text, 'dovecote_metrics_source_errors_total{source="outbox"}'), 1);
  assert.deepEqual(problems, ['outbox']);
  assert.equal(await metrics.readOutbox(), undefined);
});

test('the bearer token comparison', () => {
  assert.equal(bearerTokenMatches(`Bearer ${METRICS_TOKEN}`, METRICS_TOKEN), true);
  assert.equal(bearerTokenMatches(`Bearer ${METRICS_TOKEN.slice(1)}`, METRICS_TOKEN), false);
  assert.equal(bearerTokenMatches(undefined, METRICS_TOKEN), false);
  assert.equal(bearerTokenMatches('Bearer ', METRICS_TOKEN), false);
  assert.equal(bearerTokenMatches(METRICS_TOKEN, METRICS_TOKEN), false);
});
