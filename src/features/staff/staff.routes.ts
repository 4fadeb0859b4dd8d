// Staff pages: sign in, sign out and the inbox. Parsing and rendering only; the rules are in
// staff-auth.service.ts, staff-sessions.service.ts and staff-inbox.service.ts.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { signIn, signInForm, signOut } from './staff-auth.service.ts';
import { INBOX_WAITING, viewInbox } from './staff-inbox.service.ts';
import { inboxContext, inboxPageTitle } from './staff-inbox.pages.ts';
import {
  clearStaffCookie,
  currentStaff,
  presentedStaffToken,
  requirePermission,
  requireStaffAtAnyStage,
  setStaffCookie,
  STAFF_STAGE_PATHS,
  staffLayout,
} from './staff-session.hooks.ts';

const SIGN_IN_VIEW = 'staff/views/sign-in.njk';
// Anything unknown falls back to the whole open list rather than an error: these come from links.
// "Open" is the default view: a first visit (nothing assigned yet) shows everything still to deal with.
const inboxQuery = z.object({
  page: z.coerce.number().int().min(1).max(10_000).catch(1).default(1),
  view: z.enum(['open', 'mine', 'unassigned', 'done']).catch('open').default('open'),
  waiting: z.enum(INBOX_WAITING).optional().catch(undefined),
  patient: z.string().max(100).optional().catch(undefined),
  // The list of documents not opened had its own address before the views: old links keep working.
  show: z.enum(['all', 'not-opened']).optional().catch(undefined),
});

function tooManyAttemptsText(minutes: number): string {
  return `Too many attempts. Try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`;
}

function waitText(seconds: number): string {
  return `Wait ${seconds} ${seconds === 1 ? 'second' : 'seconds'} before trying again`;
}

export async function staffRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;

  app.get('/staff/sign-in', async (_request, reply) => {
    return reply.page(SIGN_IN_VIEW, { pageTitle: 'Sign in', ...staffLayout(null), values: {} });
  });

  app.post('/staff/sign-in', async (request, reply) => {
    const raw = (request.body ?? {}) as Record<string, unknown>;
    const values = { email: typeof raw.email === 'string' ? raw.email.slice(0, 254) : '' };
    const parsed = signInForm.safeParse({ email: raw.email, password: raw.password });
    if (!parsed.success) {
      const errors: FormErrors = {};
      for (const issue of parsed.error.issues) {
        const field = String(issue.path[0]);
        if (!errors[field] && (field === 'email' || field === 'password')) errors[field] = { href: `#${field}`, text: issue.message };
      }
      return reply.page(SIGN_IN_VIEW, { pageTitle: 'Sign in', ...staffLayout(null), values, errors }, { status: 400 });
    }
    const result = await signIn(services, { ...parsed.data, ip: request.ip, presentedSessionToken: presentedStaffToken(request) });
    if (result.outcome === 'signed-in') {
      setStaffCookie(reply, result.token);
      // A right password alone reaches the inbox only when nothing else is asked of the account.
      return reply.redirect(STAFF_STAGE_PATHS[result.stage], 303);
    }
    // Whatever session came with a failed attempt is not touched; the browser keeps it or not.
    let text = 'Enter a correct email address and password';
    if (result.outcome === 'too-many-attempts') {
      text = tooManyAttemptsText(result.retryAfterMinutes);
      reply.header('retry-after', String(result.retryAfterMinutes * 60));
    } else if (result.outcome === 'wait') {
      text = waitText(result.waitSeconds);
      reply.header('retry-after', String(result.waitSeconds));
    }
    return reply.page(
      SIGN_IN_VIEW,
      {
        pageTitle: 'Sign in',
        ...staffLayout(null),
        values,
        errors: { email: { href: '#email', text } },
        tooManyAttempts: result.outcome === 'too-many-attempts',
        waiting: result.outcome === 'wait',
      },
      { status: result.outcome === 'wrong-details' ? 401 : 429 },
    );
  });

  app.get('/staff/sign-out', { preHandler: requireStaffAtAnyStage }, async (request, reply) => {
    return reply.page('staff/views/sign-out.njk', { pageTitle: 'Sign out', ...staffLayout(currentStaff(request)) });
  });

  app.post('/staff/sign-out', { preHandler: requireStaffAtAnyStage }, async (request, reply) => {
    const staff = currentStaff(request);
    await signOut(services, {
      token: presentedStaffToken(request)!,
      staffUserId: staff.user.id,
      organisationId: staff.organisation.id,
      ip: request.ip,
    });
    clearStaffCookie(reply);
    request.staff = null;
    return reply.page('staff/views/signed-out.njk', { pageTitle: 'You have signed out', ...staffLayout(null) });
  });

  app.get('/staff', { preHandler: requirePermission('readReplies') }, async (request, reply) => {
    const staff = currentStaff(request);
    const query = inboxQuery.parse(request.query ?? {});
    const filter = {
      view: query.view,
      waiting: query.waiting ?? (query.show === 'not-opened' ? ('not-opened' as const) : undefined),
      patient: query.patient?.trim() || undefined,
    };
    const inbox = await viewInbox(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, page: query.page, filter });
    return reply.page('staff/views/inbox.njk', {
      pageTitle: inboxPageTitle(filter, inbox.rows.length),
      ...staffLayout(staff),
      ...inboxContext(inbox, filter, services.config.files.documentNotOpenedDays),
      organisation: staff.organisation,
    });
  });
}
