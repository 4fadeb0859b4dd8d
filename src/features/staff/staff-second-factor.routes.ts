// The pages of sign-in after the password (a code, a recovery code, setting up an authenticator, a new
// password in place of a temporary one) and "Your account". Parsing and rendering only; the rules are
// in staff-second-factor.service.ts. Each step's page takes only a session at that stage
// (requireSignInStage); "Your account" is for any signed-in staff member, whatever their role.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import {
  changePasswordForm,
  changeTemporaryPassword,
  finishEnrolment,
  makeNewRecoveryCodes,
  recoveryCodeForm,
  signInWithRecoveryCode,
  signInWithTotp,
  startEnrolment,
  totpCodeForm,
  viewAccountSecondFactor,
  type CodeRefusal,
} from './staff-second-factor.service.ts';
import {
  currentStaff,
  presentedStaffToken,
  requireSignInStage,
  requireStaff,
  setStaffCookie,
  STAFF_STAGE_PATHS,
  staffLayout,
} from './staff-session.hooks.ts';

const CODE_VIEW = 'staff/views/sign-in-code.njk';
const RECOVERY_VIEW = 'staff/views/sign-in-recovery-code.njk';
const SET_UP_VIEW = 'staff/views/second-factor-set-up.njk';
const CODES_VIEW = 'staff/views/recovery-codes.njk';
const CHANGE_PASSWORD_VIEW = 'staff/views/change-password.njk';
const ACCOUNT_VIEW = 'staff/views/account.njk';

function formErrors(error: z.ZodError): FormErrors {
  const errors: FormErrors = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'code');
    errors[field] ??= { href: `#${field}`, text: issue.message };
  }
  return errors;
}

/** A refused code: the words, status and Retry-After for the form it came from. */
function refusal(reply: FastifyReply, result: CodeRefusal, wrongText: string) {
  if (result.outcome === 'wrong-code') return { status: 401, errors: { code: { href: '#code', text: wrongText } }, context: {} };
  if (result.outcome === 'locked') {
    const text = 'Too many wrong codes. Use a recovery code, or ask the person who manages Dovecote for your organisation to reset your second factor';
    return { status: 429, errors: { code: { href: '#code', text } }, context: { locked: true } };
  }
  const seconds = result.outcome === 'wait' ? result.waitSeconds : result.retryAfterMinutes * 60;
  reply.header('retry-after', String(seconds));
  const text =
    result.outcome === 'wait'
      ? `Wait ${seconds} ${seconds === 1 ? 'second' : 'seconds'} before trying again`
      : `Too many attempts. Try again in ${result.retryAfterMinutes} ${result.retryAfterMinutes === 1 ? 'minute' : 'minutes'}`;
  return {
    status: 429,
    errors: { code: { href: '#code', text } },
    context: { waiting: result.outcome === 'wait', tooManyAttempts: result.outcome === 'too-many-attempts' },
  };
}

const bodyOf = (request: FastifyRequest) => (request.body ?? {}) as Record<string, unknown>;

export async function staffSecondFactorRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const stepInput = (request: FastifyRequest) => ({
    staffUserId: currentStaff(request).user.id,
    token: presentedStaffToken(request)!,
    ip: request.ip,
  });
  const layout = (request: FastifyRequest) => staffLayout(currentStaff(request));

  // ---- A code from the authenticator app ----
  const codePage = { pageTitle: 'Enter the code from your authenticator app' };
  app.get('/staff/sign-in/code', { preHandler: requireSignInStage('second_factor') }, async (request, reply) => {
    return reply.page(CODE_VIEW, { ...codePage, ...layout(request) });
  });

  app.post('/staff/sign-in/code', { preHandler: requireSignInStage('second_factor') }, async (request, reply) => {
    const parsed = totpCodeForm.safeParse({ code: bodyOf(request).code });
    if (!parsed.success) return reply.page(CODE_VIEW, { ...codePage, ...layout(request), errors: formErrors(parsed.error) }, { status: 400 });
    const result = await signInWithTotp(services, { ...stepInput(request), code: parsed.data.code });
    if (result.outcome === 'passed') {
      setStaffCookie(reply, result.token);
      return reply.redirect(STAFF_STAGE_PATHS[result.stage], 303);
    }
    const refused = refusal(reply, result, 'The code is not right. Enter the code your app shows now');
    return reply.page(CODE_VIEW, { ...codePage, ...layout(request), errors: refused.errors, ...refused.context }, { status: refused.status });
  });

  // ---- A recovery code instead ----
  const recoveryPage = { pageTitle: 'Use a recovery code' };
  app.get('/staff/sign-in/recovery-code', { preHandler: requireSignInStage('second_factor') }, async (request, reply) => {
    return reply.page(RECOVERY_VIEW, { ...recoveryPage, ...layout(request) });
  });

  app.post('/staff/sign-in/recovery-code', { preHandler: requireSignInStage('second_factor') }, async (request, reply) => {
    const parsed = recoveryCodeForm.safeParse({ code: bodyOf(request).code });
    if (!parsed.success) return reply.page(RECOVERY_VIEW, { ...recoveryPage, ...layout(request), errors: formErrors(parsed.error) }, { status: 400 });
    const result = await signInWithRecoveryCode(services, { ...stepInput(request), code: parsed.data.code });
    if (result.outcome === 'passed') {
      setStaffCookie(reply, result.token);
      return reply.redirect(result.stage === 'signed_in' ? '/staff/account?used=recovery-code' : STAFF_STAGE_PATHS[result.stage], 303);
    }
    const refused = refusal(reply, result, 'The recovery code is not right, or it has been used');
    return reply.page(RECOVERY_VIEW, { ...recoveryPage, ...layout(request), errors: refused.errors, ...refused.context }, { status: refused.status });
  });

  // ---- Setting up an authenticator app ----
  const setUpPage = { pageTitle: 'Set up an authenticator app' };
  const setUpContext = async (request: FastifyRequest) => ({
    ...setUpPage,
    ...layout(request),
    ...(await startEnrolment(services, currentStaff(request).user.id, currentStaff(request).organisation.name)),
  });
  app.get('/staff/second-factor/set-up', { preHandler: requireSignInStage('enrol') }, async (request, reply) => {
    return reply.page(SET_UP_VIEW, await setUpContext(request));
  });

  app.post('/staff/second-factor/set-up', { preHandler: requireSignInStage('enrol') }, async (request, reply) => {
    const parsed = totpCodeForm.safeParse({ code: bodyOf(request).code });
    if (!parsed.success) return reply.page(SET_UP_VIEW, { ...(await setUpContext(request)), errors: formErrors(parsed.error) }, { status: 400 });
    const result = await finishEnrolment(services, { ...stepInput(request), code: parsed.data.code });
    if (result.outcome === 'enrolled') {
      setStaffCookie(reply, result.token);
      // Shown on this response only: the codes exist nowhere else but as hashes.
      return reply.page(CODES_VIEW, {
        pageTitle: 'Save your recovery codes',
        ...staffLayout(null),
        recoveryCodes: result.recoveryCodes,
        continueHref: STAFF_STAGE_PATHS[result.stage],
      });
    }
    const refused = refusal(reply, result, 'The code is not right. Check the key in your app and enter the code it shows now');
    return reply.page(SET_UP_VIEW, { ...(await setUpContext(request)), errors: refused.errors, ...refused.context }, { status: refused.status });
  });

  // ---- A new password in place of a temporary one ----
  const changePage = { pageTitle: 'Choose a new password' };
  app.get('/staff/change-password', { preHandler: requireSignInStage('change_password') }, async (request, reply) => {
    return reply.page(CHANGE_PASSWORD_VIEW, { ...changePage, ...layout(request) });
  });

  app.post('/staff/change-password', { preHandler: requireSignInStage('change_password') }, async (request, reply) => {
    const raw = bodyOf(request);
    const parsed = changePasswordForm.safeParse({ newPassword: raw.newPassword, confirmPassword: raw.confirmPassword });
    if (!parsed.success) {
      return reply.page(CHANGE_PASSWORD_VIEW, { ...changePage, ...layout(request), errors: formErrors(parsed.error) }, { status: 400 });
    }
    const result = await changeTemporaryPassword(services, { ...stepInput(request), newPassword: parsed.data.newPassword });
    if (result.outcome === 'same-as-temporary') {
      const errors = { newPassword: { href: '#newPassword', text: 'Your new password must be different from your temporary password' } };
      return reply.page(CHANGE_PASSWORD_VIEW, { ...changePage, ...layout(request), errors }, { status: 400 });
    }
    setStaffCookie(reply, result.token);
    return reply.redirect(STAFF_STAGE_PATHS[result.stage], 303);
  });

  // ---- Your account ----
  const accountContext = async (request: FastifyRequest) => {
    const staff = currentStaff(request);
    const secondFactor = await viewAccountSecondFactor(services, staff.user.id);
    return {
      pageTitle: 'Your account',
      ...staffLayout(staff),
      name: staff.user.name,
      email: staff.user.email,
      organisationName: staff.organisation.name,
      enrolledAt: secondFactor.enrolledAt,
      recoveryCodesLeft: secondFactor.recoveryCodesLeft,
    };
  };
  app.get('/staff/account', { preHandler: requireStaff }, async (request, reply) => {
    const usedRecoveryCode = (request.query as Record<string, unknown> | undefined)?.used === 'recovery-code';
    return reply.page(ACCOUNT_VIEW, { ...(await accountContext(request)), usedRecoveryCode });
  });

  app.post('/staff/account/recovery-codes', { preHandler: requireStaff }, async (request, reply) => {
    const parsed = totpCodeForm.safeParse({ code: bodyOf(request).code });
    if (!parsed.success) return reply.page(ACCOUNT_VIEW, { ...(await accountContext(request)), errors: formErrors(parsed.error) }, { status: 400 });
    const result = await makeNewRecoveryCodes(services, { staffUserId: currentStaff(request).user.id, ip: request.ip, code: parsed.data.code });
    if (result.outcome === 'replaced') {
      return reply.page(CODES_VIEW, { pageTitle: 'Save your recovery codes', ...layout(request), recoveryCodes: result.recoveryCodes, continueHref: '/staff/account' });
    }
    const refused = refusal(reply, result, 'The code is not right. Enter the code your app shows now');
    return reply.page(ACCOUNT_VIEW, { ...(await accountContext(request)), errors: refused.errors, ...refused.context }, { status: refused.status });
  });
}
