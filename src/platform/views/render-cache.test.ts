import { test } from 'node:test';
import assert from 'node:assert/strict';
import nunjucks from 'nunjucks';
import { RenderCache } from './render-cache.ts';
import { createViewEnvironment } from './views.ts';
import { newLinkToken } from '../crypto/tokens.ts';

const views = createViewEnvironment();
const organisation = { id: 'org-1', name: 'Riverside Surgery', contactPhone: '01234 567890' };

function dobContext(token: string, values = { day: '', month: '', year: '' }, errors?: object) {
  return {
    serviceName: 'Dovecote',
    csrfToken: `${newLinkToken()}-${newLinkToken()}`,
    errorList: errors ? Object.values(errors) : [],
    pageTitle: 'What is your date of birth?',
    token,
    organisation,
    values,
    errors,
    errorParts: errors ? ['day', 'month', 'year'] : [],
    sessionExpired: false,
    nhsLoginHref: `/nhs-login/start?returnTo=${encodeURIComponent(`/${token}/nhs-login`)}`,
  };
}
const DOB_VOLATILE = ['token', 'values.day', 'values.month', 'values.year', 'csrfToken'];

test('the real date-of-birth page from the cache is byte-identical to rendering it, for every link and what was typed', () => {
  const rendered: string[] = [];
  const cache = new RenderCache((t, c) => {
    rendered.push(t);
    return views.render(t, c);
  });
  const wrong = { dob: { href: '#dob-day', text: 'The date of birth does not match our records' } };
  const cases = [
    dobContext(newLinkToken()),
    dobContext(newLinkToken()),
    dobContext(newLinkToken(), { day: '12', month: '3', year: '1984' }, wrong),
    dobContext(newLinkToken(), { day: '1', month: '12', year: '1999' }, wrong),
    dobContext(newLinkToken(), { day: '', month: '3', year: '1984' }, wrong),
    dobContext(newLinkToken()),
  ];
  for (const context of cases) {
    const html = cache.renderPage('verification/views/date-of-birth.njk', context, DOB_VOLATILE);
    assert.equal(html, views.render('verification/views/date-of-birth.njk', context));
    assert.ok(html.includes(`action="/${context.token}"`));
    assert.ok(html.includes(`returnTo=%2F${context.token}%2Fnhs-login`), 'the token inside another string is filled in too');
    assert.ok(html.includes(`value="${context.csrfToken}"`));
  }
  // Three shapes (empty form; wrong date fully typed; wrong date with the day empty), each rendered
  // twice when first seen (real and with stand-ins); every other request came from the cache.
  assert.equal(cache.size, 3);
  assert.equal(rendered.length, 6);
});

test('what the patient typed is never part of a cache key', () => {
  const cache = new RenderCache((t, c) => views.render(t, c));
  const wrong = { dob: { href: '#dob-day', text: 'The date of birth does not match our records' } };
  cache.renderPage('verification/views/date-of-birth.njk', dobContext(newLinkToken(), { day: '29', month: '2', year: '1976' }, wrong), DOB_VOLATILE);
  const keys = [...(cache as unknown as { entries: Map<string, unknown> }).entries.keys()].join('\n');
  assert.match(keys, /"values":\{"day":"dcv[0-9a-f]{24}\d\dx","month":"dcv[0-9a-f]{24}\d\dx","year":"dcv[0-9a-f]{24}\d\dx"\}/);
  assert.equal(keys.includes('"1976"'), false);
  assert.equal(keys.includes('"29"'), false);
});

test('a template that does more than print a volatile value is never cached, and still renders right', () => {
  const env = new nunjucks.Environment(null, { autoescape: true });
  const templates: Record<string, string> = {
    upper: '<p>{{ token | upper }}</p>',
    length: '<p>{% if token.length > 21 %}long{% else %}short{% endif %} {{ token }}</p>',
  };
  const uncacheable: string[] = [];
  const cache = new RenderCache((t, c) => env.renderString(templates[t]!, c), { onUncacheable: (t) => uncacheable.push(t) });
  for (const name of ['upper', 'upper', 'length', 'length']) {
    const token = name === 'length' ? 'abc' : newLinkToken();
    assert.equal(cache.renderPage(name, { token }, ['token']), env.renderString(templates[name]!, { token }));
  }
  assert.deepEqual(uncacheable, ['upper', 'length']);
});

test('values that would read differently escaped or encoded are rendered the normal way, not cached', () => {
  const env = new nunjucks.Environment(null, { autoescape: true });
  let renders = 0;
  const cache = new RenderCache((_t, c) => {
    renders++;
    return env.renderString('<a href="/{{ token }}">{{ token }}</a>', c);
  });
  for (const token of ['<script>', 'a b', 'x"y', 'ü']) {
    assert.equal(cache.renderPage('page', { token }, ['token']), env.renderString('<a href="/{{ token }}">{{ token }}</a>', { token }));
  }
  assert.equal(renders, 4);
  assert.equal(cache.size, 0);
});

test('an empty and a filled value take their own branch of the template', () => {
  const env = new nunjucks.Environment(null, { autoescape: true });
  const template = '{% if value %}<input value="{{ value }}" class="filled">{% else %}<input class="empty">{% endif %}';
  const cache = new RenderCache((_t, c) => env.renderString(template, c));
  for (const value of ['12', '', '7', '', '1984']) {
    assert.equal(cache.renderPage('page', { value }, ['value']), env.renderString(template, { value }));
  }
  assert.equal(cache.size, 2);
});

test('the stand-ins never reach a page, and the cache keeps at most maxEntries shapes', () => {
  const env = new nunjucks.Environment(null, { autoescape: true });
  const cache = new RenderCache((_t, c) => env.renderString('<h1>{{ org }}</h1><form action="/{{ token }}"></form>', c), { maxEntries: 3 });
  for (let i = 0; i < 10; i++) {
    const token = newLinkToken();
    const html = cache.renderPage('page', { org: `Surgery ${i % 5}`, token }, ['token']);
    assert.equal(html, `<h1>Surgery ${i % 5}</h1><form action="/${token}"></form>`);
    assert.equal(/dcv[0-9a-f]{24}/.test(html), false);
  }
  assert.equal(cache.size, 3);
});
