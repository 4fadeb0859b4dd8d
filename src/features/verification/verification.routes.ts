// The patient's way in: GET/POST /:token (date of birth), GET/POST /:token/code (security code),
// POST /:token/code/resend, and GET /help. HTTP only: parse, call one service function, render. A
// browser let in is sent to the landing address it was given (what is behind the link is not its business).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { dateProblemMessage, type DateProblem } from '../patients/identifiers.ts';
import type { LinkContext } from './patient-access.service.ts';
import { isNhsLoginEnabled } from '../nhs-login/nhs-login.service.ts';
import type { Services } from '../../services.ts';
import { linkReturnTo, nhsLoginStartHref } from './nhs-login-destinations.ts';
import type { LandingPaths } from './patient-access.ts';
import { openLink, requestNewCode, showCodePage, submitDateOfBirth, submitSecurityCode } from './verification.service.ts';
import { CODE_MAX_ATTEMPTS } from './security-codes.service.ts';
import {
  accessProblemReply,
  codeLimitPage,
  deviceCookieOf,
  linkRefusedPage,
  organisationOf,
  sessionCookieOf,
  setDeviceCookie,
  setSessionCookie,
  wordsOf,
} from './patient-pages.ts';

const tokenParams = z.object({ token: z.string() });
/** Form fields arrive as strings; anything else (repeated fields) counts as empty. */
const formText = z.preprocess((v) => (typeof v === 'string' ? v : ''), z.string());
const dateOfBirthForm = z.object({
  'dob[day]': formText,
  'dob[month]': formText,
  'dob[year]': formText,
  'dob-day': formText,
  'dob-month': formText,
  'dob-year': formText,
});
const codeForm = z.object({ code: formText });
const dobQuery = z.object({ session: z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional()) });
const optionalText = z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional());
/** sent: a new code was just sent. moved: this browser was the trusted device until another took over. */
const codeQuery = z.object({ sent: optionalText, moved: optionalText });

type DobValues = { day: string; month: string; year: string };

function dobErrors(problem: DateProblem): { errors: FormErrors; errorParts: string[] } {
  const errorParts = problem.kind === 'missing' ? problem.parts : ['day', 'month', 'year'];
  return { errors: { dob: { href: `#dob-${errorParts[0]}`, text: dateProblemMessage(problem) } }, errorParts };
}

/** "You have 3 more tries before the link is locked for 30 minutes." */
export function triesLeftWords(checksLeft: { left: number; permanently: boolean }): string {
  const tries = checksLeft.left === 1 ? '1 more try' : `${checksLeft.left} more tries`;
  return checksLeft.permanently
    ? `You have ${tries} before the link stops working`
    : `You have ${tries} before the link is locked for 30 minutes`;
}

/** Said once the next code's tries are the link's last: ". If you enter a wrong code 5 more times, …" */
function codeLockWarning(linkTriesLeft: number): string {
  if (linkTriesLeft > CODE_MAX_ATTEMPTS) return '';
  return `. If you enter a wrong code ${linkTriesLeft === 1 ? '1 more time' : `${linkTriesLeft} more times`}, the link will stop working`;
}

function renderDateOfBirth(
  reply: FastifyReply,
  services: Services,
  token: string,
  context: LinkContext,
  extra: { values?: DobValues; errors?: FormErrors; errorParts?: string[]; sessionExpired?: boolean } = {},
  status = 200,
) {
  return reply.page(
    'verification/views/date-of-birth.njk',
    {
      pageTitle: 'What is your date of birth?',
      token,
      organisation: organisationOf(context),
      words: wordsOf(services, context),
      values: extra.values ?? { day: '', month: '', year: '' },
      errors: extra.errors,
      errorParts: extra.errorParts ?? [],
      sessionExpired: extra.sessionExpired ?? false,
      nhsLoginHref: isNhsLoginEnabled(reply.server.services.config) ? nhsLoginStartHref(linkReturnTo(token)) : undefined,
    },
    // Rendered once per organisation and state; what the patient typed is filled in, never kept as a key.
    { status, volatile: ['token', 'values.day', 'values.month', 'values.year'] },
  );
}

function renderCodePage(
  reply: FastifyReply,
  services: Services,
  token: string,
  context: LinkContext,
  phoneEnding: string,
  extra: { errors?: FormErrors; resent?: boolean; noCode?: boolean; lostTrust?: boolean } = {},
  status = 200,
) {
  return reply.page(
    'verification/views/check-your-phone.njk',
    {
      pageTitle: 'Check your phone',
      token,
      organisation: organisationOf(context),
      words: wordsOf(services, context),
      phoneEnding,
      errors: extra.errors,
      resent: extra.resent ?? false,
      noCode: extra.noCode ?? false,
      lostTrust: extra.lostTrust ?? false,
    },
    { status, volatile: ['token'] },
  );
}

export async function verificationRoutes(app: FastifyInstance, options: { landing: LandingPaths }) {
  const services = app.services;
  const { landing } = options;

  app.get('/help', async (_request, reply) => {
    return reply.page('verification/views/help.njk', { pageTitle: 'How secure links work', nhsLoginEnabled: isNhsLoginEnabled(services.config) });
  });

  app.get('/:token', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const query = dobQuery.parse(request.query);
    const result = await openLink(services, { token, ip: request.ip });
    switch (result.kind) {
      case 'rate_limited':
      case 'unknown':
      case 'gone':
      case 'locked':
        return linkRefusedPage(reply, services, result);
      case 'ask_date_of_birth':
        return renderDateOfBirth(reply, services, token, result.context, { sessionExpired: query.session === 'expired' });
    }
  });

  app.post('/:token', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const form = dateOfBirthForm.parse(request.body ?? {});
    const values = {
      day: form['dob[day]'] || form['dob-day'],
      month: form['dob[month]'] || form['dob-month'],
      year: form['dob[year]'] || form['dob-year'],
    };
    const result = await submitDateOfBirth(services, {
      token,
      ip: request.ip,
      dateOfBirth: values,
      deviceToken: deviceCookieOf(request),
      sessionToken: sessionCookieOf(request),
    });
    switch (result.kind) {
      case 'rate_limited':
      case 'unknown':
      case 'gone':
      case 'locked':
        return linkRefusedPage(reply, services, result);
      case 'invalid':
        return renderDateOfBirth(reply, services, token, result.context, { values, ...dobErrors(result.problem) }, 400);
      case 'wrong':
        return renderDateOfBirth(
          reply,
          services,
          token,
          result.context,
          {
            values,
            // Never which part is wrong (DESIGN.md §3); how many tries are left is the patient's to know.
            errors: { dob: { href: '#dob-day', text: `The date of birth does not match our records. ${triesLeftWords(result.checksLeft)}` } },
            errorParts: ['day', 'month', 'year'],
          },
          400,
        );
      case 'verified':
        setSessionCookie(reply, result.sessionToken);
        if (result.deviceToken) setDeviceCookie(reply, result.deviceToken);
        return reply.redirect(landing.link(token), 303);
      case 'code_needed':
        setSessionCookie(reply, result.sessionToken);
        return reply.redirect(result.lostTrust ? `/${token}/code?moved=1` : `/${token}/code`, 303);
      case 'code_limit':
        setSessionCookie(reply, result.sessionToken);
        return codeLimitPage(reply, services, token, result.context, result.limit, { codeLive: false, askedHere: false, lostTrust: result.lostTrust });
    }
  });

  app.get('/:token/code', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const query = codeQuery.parse(request.query);
    const result = await showCodePage(services, { token, ip: request.ip, sessionToken: sessionCookieOf(request) });
    if (result.kind !== 'ok') return accessProblemReply(reply, services, token, result, landing);
    return renderCodePage(reply, services, token, result.context, result.phoneEnding, { resent: query.sent === '1', lostTrust: query.moved === '1' });
  });

  app.post('/:token/code', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const form = codeForm.parse(request.body ?? {});
    const result = await submitSecurityCode(services, {
      token,
      ip: request.ip,
      sessionToken: sessionCookieOf(request),
      deviceToken: deviceCookieOf(request),
      code: form.code,
    });
    switch (result.kind) {
      case 'invalid':
        return renderCodePage(reply, services, token, result.context, result.phoneEnding, { errors: { code: { href: '#code', text: result.message } } }, 400);
      case 'wrong': {
        const tries = result.triesLeft === 1 ? '1 more try' : `${result.triesLeft} more tries`;
        const before = result.linkLocksFirst ? 'the link stops working' : 'you need to request a new code';
        return renderCodePage(
          reply,
          services,
          token,
          result.context,
          result.phoneEnding,
          { errors: { code: { href: '#code', text: `The security code is not correct. You have ${tries} before ${before}` } } },
          400,
        );
      }
      case 'no_code':
        return renderCodePage(
          reply,
          services,
          token,
          result.context,
          result.phoneEnding,
          {
            errors: {
              code: {
                href: '#code',
                text: `${
                  result.burnedNow
                    ? 'The security code is not correct and it has now stopped working. Request a new code'
                    : 'This security code has expired or stopped working. Request a new code'
                }${codeLockWarning(result.linkTriesLeft)}`,
              },
            },
            noCode: true,
          },
          400,
        );
      case 'verified':
        setSessionCookie(reply, result.sessionToken);
        setDeviceCookie(reply, result.deviceToken);
        return reply.redirect(landing.link(token), 303);
      default:
        return accessProblemReply(reply, services, token, result, landing);
    }
  });

  app.post('/:token/code/resend', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const result = await requestNewCode(services, { token, ip: request.ip, sessionToken: sessionCookieOf(request) });
    switch (result.kind) {
      case 'sent':
        return reply.redirect(`/${token}/code?sent=1`, 303);
      case 'code_limit':
        return codeLimitPage(reply, services, token, result.context, result.limit, { codeLive: true, askedHere: true, lostTrust: false });
      default:
        return accessProblemReply(reply, services, token, result, landing);
    }
  });
}
