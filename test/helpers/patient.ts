// Driving the patient's side of a link with app.inject: each browser is a CookieJar.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { CookieJar, TEST_PATIENT, csrfFrom } from './factories.ts';

export function dobFields(iso: string = TEST_PATIENT.dateOfBirth): Record<string, string> {
  const [year, month, day] = iso.split('-');
  return { 'dob[day]': String(Number(day)), 'dob[month]': String(Number(month)), 'dob[year]': year! };
}

export async function get(app: FastifyInstance, url: string, jar: CookieJar, remoteAddress?: string): Promise<LightMyRequestResponse> {
  const res = await app.inject({ method: 'GET', url, headers: { cookie: jar.header() }, ...(remoteAddress ? { remoteAddress } : {}) });
  jar.store(res.headers['set-cookie']);
  return res;
}

/** POST a form the way a browser does; `_csrf` is read from `csrfPage` unless given. */
export async function postForm(
  app: FastifyInstance,
  url: string,
  jar: CookieJar,
  fields: Record<string, string>,
  opts: { csrfPage?: string; csrf?: string | null; remoteAddress?: string } = {},
): Promise<LightMyRequestResponse> {
  let csrf = opts.csrf;
  if (csrf === undefined) {
    const page = await get(app, opts.csrfPage ?? url, jar, opts.remoteAddress);
    csrf = csrfFrom(page.body);
  }
  const body = new URLSearchParams(csrf === null ? fields : { _csrf: csrf, ...fields }).toString();
  const res = await app.inject({
    method: 'POST',
    url,
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: body,
    ...(opts.remoteAddress ? { remoteAddress: opts.remoteAddress } : {}),
  });
  jar.store(res.headers['set-cookie']);
  return res;
}

export function submitDob(app: FastifyInstance, token: string, jar: CookieJar, iso?: string): Promise<LightMyRequestResponse> {
  return postForm(app, `/${token}`, jar, dobFields(iso), { csrfPage: `/${token}` });
}

export function submitCode(app: FastifyInstance, token: string, jar: CookieJar, code: string): Promise<LightMyRequestResponse> {
  return postForm(app, `/${token}/code`, jar, { code }, { csrfPage: `/${token}/code` });
}

export function requestNewCode(app: FastifyInstance, token: string, jar: CookieJar): Promise<LightMyRequestResponse> {
  return postForm(app, `/${token}/code/resend`, jar, {}, { csrfPage: `/${token}/code` });
}

export function sendReply(app: FastifyInstance, token: string, jar: CookieJar, reply: string): Promise<LightMyRequestResponse> {
  return postForm(app, `/${token}/conversation/reply`, jar, { reply }, { csrfPage: `/${token}/conversation` });
}

/** A new browser that passes the date of birth as the first device: it is trusted and verified. */
export async function firstDevice(app: FastifyInstance, token: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const res = await submitDob(app, token, jar);
  if (res.statusCode !== 303 || res.headers.location !== `/${token}/conversation`) {
    throw new Error(`first device was not let in: ${res.statusCode} ${res.headers.location ?? textOf(res.body).slice(0, 400)}`);
  }
  return jar;
}

/** The visible text of a page, tags removed and white space collapsed, for asserting words. */
export function textOf(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}
