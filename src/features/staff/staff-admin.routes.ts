// Admins manage their organisation's staff accounts (every route: manageStaff), and the public set-up
// link a new staff member opens. Parsing and rendering only; the rules are in staff-admin.service.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FormErrors } from '../../platform/http/pages.ts';
import { ROLE_NAMES, STAFF_ROLES } from './permissions.ts';
import {
  addStaffMember,
  changeRole,
  deactivateStaff,
  getStaffAccount,
  lookUpSetupLink,
  reactivateStaff,
  resetStaffSecondFactor,
  ROLE_DESCRIPTIONS,
  sendNewSetupLink,
  useSetupLink,
  listStaffAccounts,
  DEACTIVATED_NO_LINK,
  LAST_ADMIN_DEACTIVATION,
  OWN_DEACTIVATION,
  type AdminContext,
  type FieldErrors,
  type SetupLinkLookup,
  type StaffAccountSummary,
} from './staff-admin.service.ts';
import { currentStaff, requirePermission, setStaffCookie, staffLayout } from './staff-session.hooks.ts';

const VIEWS = 'staff/views';
/** A1's pages for the stage a set-up session starts in. */
const ENROL_PATH = '/staff/second-factor/set-up';

const BANNERS: Record<string, string> = {
  role: 'Role changed',
  'second-factor': 'Authenticator app reset. They set up a new one the next time they sign in.',
  deactivated: 'Account deactivated. They have been signed out.',
  reactivated: 'Account reactivated',
};

type Params = { staffId: string };
type Body = Record<string, unknown>;

function adminOf(request: FastifyRequest): AdminContext {
  const staff = currentStaff(request);
  return { organisationId: staff.organisation.id, adminId: staff.user.id, ip: request.ip };
}

function formErrors(errors: FieldErrors, ids: Record<string, string> = {}): FormErrors {
  const out: FormErrors = {};
  for (const [field, text] of Object.entries(errors)) out[field] = { href: `#${ids[field] ?? field}`, text };
  return out;
}

function bodyOf(request: FastifyRequest): Body {
  return (request.body ?? {}) as Body;
}

function text(value: unknown, max: number): string {
  return typeof value === 'string' ? value.slice(0, max) : '';
}

function roleItems(selected: unknown) {
  return STAFF_ROLES.map((role) => ({ value: role, text: ROLE_NAMES[role], hint: { text: ROLE_DESCRIPTIONS[role] }, checked: selected === role }));
}

function accessItems(selected: unknown, secondFactorRequired: boolean) {
  return [
    {
      value: 'link',
      text: 'A one-time set-up link',
      hint: { text: `You send them a link that works once, for 72 hours. They choose their own password${secondFactorRequired ? ' and set up an authenticator app' : ''}.` },
      checked: selected !== 'password',
    },
    {
      value: 'password',
      text: 'A temporary password',
      hint: { text: 'You are shown a password to give them. They must change it the first time they sign in.' },
      checked: selected === 'password',
    },
  ];
}

export async function staffAdminRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const manageStaff = { preHandler: requirePermission('manageStaff') };
  const secondFactorRequired = () => services.config.staff.secondFactor === 'required';

  function accountPage(request: FastifyRequest, reply: FastifyReply, account: StaffAccountSummary, extra: { errors?: FormErrors; selectedRole?: unknown; banner?: string; status?: number } = {}) {
    const staff = currentStaff(request);
    return reply.page(
      `${VIEWS}/staff-admin-account.njk`,
      {
        pageTitle: account.name,
        ...staffLayout(staff),
        account,
        isSelf: account.id === staff.user.id,
        roleName: ROLE_NAMES[account.role],
        roleItems: roleItems(extra.selectedRole ?? account.role),
        errors: extra.errors,
        banner: extra.banner,
      },
      { status: extra.status ?? 200 },
    );
  }

  function confirmPage(
    request: FastifyRequest,
    reply: FastifyReply,
    account: StaffAccountSummary,
    page: { title: string; explanation: string[]; action: string; buttonText: string; warning?: boolean; refusal?: boolean; status?: number },
  ) {
    return reply.page(
      `${VIEWS}/staff-admin-account-confirm.njk`,
      { pageTitle: page.title, ...staffLayout(currentStaff(request)), account, explanation: page.explanation, action: page.action, buttonText: page.buttonText, warning: page.warning, refusal: page.refusal },
      { status: page.status ?? 200 },
    );
  }

  app.get('/staff/accounts', manageStaff, async (request, reply) => {
    const staff = currentStaff(request);
    const accounts = await listStaffAccounts(services.db, staff.organisation.id);
    return reply.page(`${VIEWS}/staff-admin-accounts.njk`, {
      pageTitle: 'Staff accounts',
      ...staffLayout(staff),
      organisationName: staff.organisation.name,
      selfId: staff.user.id,
      accounts: accounts.map((a) => ({ ...a, roleName: ROLE_NAMES[a.role] })),
    });
  });

  app.get('/staff/accounts/new', manageStaff, async (request, reply) => {
    return reply.page(`${VIEWS}/staff-admin-accounts-add.njk`, {
      pageTitle: 'Add a staff member',
      ...staffLayout(currentStaff(request)),
      values: {},
      roleItems: roleItems(undefined),
      accessItems: accessItems('link', secondFactorRequired()),
    });
  });

  app.post('/staff/accounts/new', manageStaff, async (request, reply) => {
    const body = bodyOf(request);
    const result = await addStaffMember(services, adminOf(request), { name: body.name, email: body.email, role: body.role, access: body.access ?? 'link' });
    if (!result.ok) {
      return reply.page(
        `${VIEWS}/staff-admin-accounts-add.njk`,
        {
          pageTitle: 'Add a staff member',
          ...staffLayout(currentStaff(request)),
          values: { name: text(body.name, 200), email: text(body.email, 254) },
          roleItems: roleItems(body.role),
          accessItems: accessItems(body.access, secondFactorRequired()),
          errors: formErrors(result.errors, { role: 'role', access: 'access' }),
        },
        { status: 400 },
      );
    }
    return reply.page(`${VIEWS}/staff-admin-accounts-secret.njk`, {
      pageTitle: `${result.name} has been added`,
      ...staffLayout(currentStaff(request)),
      ...result,
      secondFactorRequired: secondFactorRequired(),
    });
  });

  app.get<{ Params: Params; Querystring: { done?: string } }>('/staff/accounts/:staffId', manageStaff, async (request, reply) => {
    const account = await getStaffAccount(services.db, currentStaff(request).organisation.id, request.params.staffId);
    const done = typeof request.query?.done === 'string' ? request.query.done : '';
    return accountPage(request, reply, account, { banner: BANNERS[done] });
  });

  app.post<{ Params: Params }>('/staff/accounts/:staffId/role', manageStaff, async (request, reply) => {
    const { staffId } = request.params;
    const body = bodyOf(request);
    const result = await changeRole(services, adminOf(request), staffId, { role: body.role });
    if (result.ok) return reply.redirect(`/staff/accounts/${staffId}?done=role`, 303);
    const account = await getStaffAccount(services.db, currentStaff(request).organisation.id, staffId);
    return accountPage(request, reply, account, { errors: { role: { href: '#role', text: result.error } }, status: 400 });
  });

  app.get<{ Params: Params }>('/staff/accounts/:staffId/reset-second-factor', manageStaff, async (request, reply) => {
    const account = await getStaffAccount(services.db, currentStaff(request).organisation.id, request.params.staffId);
    return confirmPage(request, reply, account, {
      title: 'Reset their authenticator app?',
      explanation: [
        'Do this if they have lost their phone or their authenticator app. Their app and recovery codes stop working and they are signed out.',
        'The next time they sign in with their password, they must set up an authenticator app again. Check it is really them asking before you do this.',
      ],
      action: `/staff/accounts/${account.id}/reset-second-factor`,
      buttonText: 'Reset authenticator app',
      warning: true,
    });
  });

  app.post<{ Params: Params }>('/staff/accounts/:staffId/reset-second-factor', manageStaff, async (request, reply) => {
    await resetStaffSecondFactor(services, adminOf(request), request.params.staffId);
    return reply.redirect(`/staff/accounts/${request.params.staffId}?done=second-factor`, 303);
  });

  app.get<{ Params: Params }>('/staff/accounts/:staffId/set-up-link', manageStaff, async (request, reply) => {
    const account = await getStaffAccount(services.db, currentStaff(request).organisation.id, request.params.staffId);
    if (account.deactivatedAt) {
      return confirmPage(request, reply, account, { title: 'You cannot send a set-up link', explanation: [DEACTIVATED_NO_LINK], action: '', buttonText: '', refusal: true });
    }
    return confirmPage(request, reply, account, {
      title: 'Send a new set-up link?',
      explanation: [
        'They use the link to choose a new password, for example if they have forgotten theirs. Their current password keeps working until they do.',
        'Any earlier set-up link for this account stops working. The new link works once and expires in 72 hours.',
      ],
      action: `/staff/accounts/${account.id}/set-up-link`,
      buttonText: 'Create set-up link',
    });
  });

  app.post<{ Params: Params }>('/staff/accounts/:staffId/set-up-link', manageStaff, async (request, reply) => {
    const { staffId } = request.params;
    const result = await sendNewSetupLink(services, adminOf(request), staffId);
    const account = await getStaffAccount(services.db, currentStaff(request).organisation.id, staffId);
    if (!result.ok) {
      return confirmPage(request, reply, account, { title: 'You cannot send a set-up link', explanation: [result.error], action: '', buttonText: '', refusal: true, status: 400 });
    }
    return reply.page(`${VIEWS}/staff-admin-accounts-secret.njk`, {
      pageTitle: 'New set-up link created',
      ...staffLayout(currentStaff(request)),
      staffId,
      name: account.name,
      email: account.email,
      setupUrl: result.setupUrl,
      expiresAt: result.expiresAt,
      secondFactorRequired: secondFactorRequired() && !account.secondFactorSetUp,
    });
  });

  app.get<{ Params: Params }>('/staff/accounts/:staffId/deactivate', manageStaff, async (request, reply) => {
    const staff = currentStaff(request);
    const account = await getStaffAccount(services.db, staff.organisation.id, request.params.staffId);
    if (account.id === staff.user.id) {
      return confirmPage(request, reply, account, { title: 'You cannot deactivate your own account', explanation: [OWN_DEACTIVATION], action: '', buttonText: '', refusal: true });
    }
    return confirmPage(request, reply, account, {
      title: `Deactivate ${account.name}'s account?`,
      explanation: [
        'They are signed out at once and cannot sign in again. Any set-up link sent to them stops working.',
        'What they sent stays, with their name on it. You can reactivate the account later.',
      ],
      action: `/staff/accounts/${account.id}/deactivate`,
      buttonText: 'Deactivate account',
      warning: true,
    });
  });

  app.post<{ Params: Params }>('/staff/accounts/:staffId/deactivate', manageStaff, async (request, reply) => {
    const { staffId } = request.params;
    const result = await deactivateStaff(services, adminOf(request), staffId);
    if (result.ok) return reply.redirect(`/staff/accounts/${staffId}?done=deactivated`, 303);
    const account = await getStaffAccount(services.db, currentStaff(request).organisation.id, staffId);
    const title = result.error === LAST_ADMIN_DEACTIVATION ? 'You cannot deactivate the only admin' : 'You cannot deactivate your own account';
    return confirmPage(request, reply, account, { title, explanation: [result.error], action: '', buttonText: '', refusal: true, status: 400 });
  });

  app.post<{ Params: Params }>('/staff/accounts/:staffId/reactivate', manageStaff, async (request, reply) => {
    await reactivateStaff(services, adminOf(request), request.params.staffId);
    return reply.redirect(`/staff/accounts/${request.params.staffId}?done=reactivated`, 303);
  });

  // The set-up link: public (the person has no session yet); the token is the only credential.

  function setupProblem(reply: FastifyReply, lookup: Exclude<SetupLinkLookup, { kind: 'valid' }>) {
    if (lookup.kind === 'rate_limited') {
      reply.header('retry-after', String(lookup.retryAfterSeconds));
      return reply.page(
        `${VIEWS}/staff-admin-setup-problem.njk`,
        { pageTitle: 'Too many attempts', ...staffLayout(null), tooMany: true, minutes: Math.max(1, Math.ceil(lookup.retryAfterSeconds / 60)) },
        { status: 429 },
      );
    }
    return reply.page(
      `${VIEWS}/staff-admin-setup-problem.njk`,
      { pageTitle: 'This set-up link cannot be used', ...staffLayout(null) },
      { status: lookup.kind === 'gone' ? 410 : 404 },
    );
  }

  function setupPage(reply: FastifyReply, token: string, account: { name: string; email: string }, errors?: FormErrors) {
    return reply.page(
      `${VIEWS}/staff-admin-setup.njk`,
      { pageTitle: 'Choose a password', ...staffLayout(null), token, name: account.name, email: account.email, errors },
      { status: errors ? 400 : 200 },
    );
  }

  app.get<{ Params: { token: string } }>('/staff/set-up/:token', async (request, reply) => {
    const lookup = await lookUpSetupLink(services, request.params.token, request.ip);
    if (lookup.kind !== 'valid') return setupProblem(reply, lookup);
    return setupPage(reply, request.params.token, lookup);
  });

  app.post<{ Params: { token: string } }>('/staff/set-up/:token', async (request, reply) => {
    const { token } = request.params;
    const body = bodyOf(request);
    const result = await useSetupLink(services, token, request.ip, { password: body.password, confirmPassword: body.confirmPassword });
    if (result.kind === 'form_errors') return setupPage(reply, token, result, formErrors(result.errors));
    if (result.kind === 'done_sign_in') {
      return reply.page(`${VIEWS}/staff-admin-setup-done.njk`, { pageTitle: 'Your password has been set', ...staffLayout(null) });
    }
    if (result.kind === 'done') {
      setStaffCookie(reply, result.sessionToken);
      return reply.redirect(result.next === 'enrol' ? ENROL_PATH : '/staff', 303);
    }
    return setupProblem(reply, result);
  });
}

