// The per-address limit on unknown-link look-ups (issue 10, item 6). Many patients share one address
// (a hospital's Wi-Fi, a mobile network's NAT): the limit must only ever answer for tokens that do not
// exist, so a guesser behind the address is slowed and the patients beside it are not. Requests that
// browsers and crawlers make on their own (favicon.ico, robots.txt…) and paths that cannot be a token
// are not guesses and are not counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { like } from 'drizzle-orm';
import { createTestApp, TestClock } from '../helpers/app.ts';
import { CookieJar, createTestConversation } from '../helpers/factories.ts';
import { dobFields, get, postForm, textOf } from '../helpers/patient.ts';
import { newLinkToken } from '../../src/platform/crypto/tokens.ts';
import { LINK_LOOKUPS_PER_MINUTE } from '../../src/features/verification/patient-access.service.ts';
import { rateLimitHits } from '../../src/platform/db/schema.ts';

const HOSPITAL_WIFI = '198.51.100.40';

test('after more than the limit of unknown links from one address, a real link from the same address still opens', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);

  const statuses: number[] = [];
  for (let i = 0; i < LINK_LOOKUPS_PER_MINUTE + 5; i++) {
    const res = await app.inject({ method: 'GET', url: `/${newLinkToken()}`, remoteAddress: HOSPITAL_WIFI });
    statuses.push(res.statusCode);
  }
  assert.deepEqual(statuses.slice(0, LINK_LOOKUPS_PER_MINUTE), Array(LINK_LOOKUPS_PER_MINUTE).fill(404));
  assert.deepEqual(statuses.slice(LINK_LOOKUPS_PER_MINUTE), Array(5).fill(429), 'unknown links from the address are limited');

  // The patient behind the same address opens their link, gives their date of birth and reads it.
  const jar = new CookieJar();
  const opened = await get(app, `/${c.token}`, jar, HOSPITAL_WIFI);
  assert.equal(opened.statusCode, 200);
  assert.match(textOf(opened.body), /What is your date of birth\?/);
  const verified = await postForm(app, `/${c.token}`, jar, dobFields(), { csrfPage: `/${c.token}`, remoteAddress: HOSPITAL_WIFI });
  assert.equal(verified.statusCode, 303);
  assert.equal(verified.headers.location, `/${c.token}/conversation`);
  const message = await get(app, `/${c.token}/conversation`, jar, HOSPITAL_WIFI);
  assert.equal(message.statusCode, 200);

  // The limit still holds for guesses.
  const guess = await app.inject({ method: 'GET', url: `/${newLinkToken()}`, remoteAddress: HOSPITAL_WIFI });
  assert.equal(guess.statusCode, 429);
  assert.match(textOf(guess.body), /You have tried to open links too many times/);
});

test('favicon.ico, robots.txt, touch icons, /.well-known/ and paths that cannot be a token do not count as misses', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);

  const automatic = [
    '/favicon.ico',
    '/robots.txt',
    '/apple-touch-icon.png',
    '/apple-touch-icon-precomposed.png',
    '/apple-touch-icon-120x120.png',
    '/.well-known/security.txt',
    '/.well-known/change-password',
  ];
  const notTokens = ['/wp-login.php', '/index.html', '/sitemap.xml', `/${newLinkToken().slice(1)}`, `/${newLinkToken()}x`, `/${newLinkToken().slice(1)}-`];
  for (let round = 0; round < 10; round++) {
    for (const url of [...automatic, ...notTokens]) {
      const res = await app.inject({ method: 'GET', url, remoteAddress: HOSPITAL_WIFI });
      assert.ok([200, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
    }
  }
  assert.deepEqual(await services.db.select().from(rateLimitHits).where(like(rateLimitHits.key, 'link-lookup:%')), [], 'nothing was counted');
  const guess = await app.inject({ method: 'GET', url: `/${newLinkToken()}`, remoteAddress: HOSPITAL_WIFI });
  assert.equal(guess.statusCode, 404, 'the address is not limited');

  const robots = await app.inject({ method: 'GET', url: '/robots.txt' });
  assert.equal(robots.statusCode, 200);
  assert.match(String(robots.headers['content-type']), /^text\/plain/);
  assert.equal(robots.body, 'User-agent: *\nDisallow: /\n');
  const favicon = await app.inject({ method: 'GET', url: '/favicon.ico' });
  assert.equal(favicon.statusCode, 200);
  assert.match(String(favicon.headers['content-type']), /icon/);
  for (const url of ['/apple-touch-icon.png', '/.well-known/security.txt']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.doesNotMatch(textOf(res.body), /We cannot find this link/, `${url} is not answered as a link`);
  }
  // The pages name the favicon where it is.
  const page = await app.inject({ method: 'GET', url: '/help' });
  const href = /<link rel="icon" href="([^"]+\.ico)"/.exec(page.body)?.[1];
  assert.ok(href, 'the layout names a favicon');
  assert.equal((await app.inject({ method: 'GET', url: href })).statusCode, 200, `${href} is served`);
});
