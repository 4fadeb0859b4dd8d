// The HTTP side of staff sessions: the cookie, and the preHandler that puts the signed-in staff member
// and their organisation on the request (or sends the browser to the sign-in page).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rotateCsrfSecret } from '../../platform/http/security.ts';
import {
  loadStaffSessionAtAnyStage,
  STAFF_SESSION_ABSOLUTE_MS,
  type StaffContext,
  type StaffSessionStage,
} from './staff-sessions.service.ts';
import { roleMay, type Permission } from './permissions.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by requireStaff on staff routes; null elsewhere. */
    staff: StaffContext | null;
  }
}

export const STAFF_COOKIE = '__Host-dovecote-staff';
export const STAFF_SIGN_IN_PATH = '/staff/sign-in';

const cookieOptions = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' } as const;

/** A new session comes with a new CSRF secret: no token from before sign-in works after it. */
export function setStaffCookie(reply: FastifyReply, token: string): void {
  rotateCsrfSecret(reply);
  reply.setCookie(STAFF_COOKIE, token, { ...cookieOptions, maxAge: STAFF_SESSION_ABSOLUTE_MS / 1000 });
}

export function clearStaffCookie(reply: FastifyReply): void {
  reply.clearCookie(STAFF_COOKIE, cookieOptions);
}

export function presentedStaffToken(request: FastifyRequest): string | undefined {
  const value = request.cookies[STAFF_COOKIE];
  return value ? value : undefined;
}

/** The page for each stage of sign-in (the other helpers' set-up links rely on these paths). */
export const STAFF_STAGE_PATHS: Record<StaffSessionStage, string> = {
  second_factor: '/staff/sign-in/code',
  enrol: '/staff/second-factor/set-up',
  change_password: '/staff/change-password',
  signed_in: '/staff',
};

async function presentedSession(request: FastifyRequest, reply: FastifyReply): Promise<StaffContext | null> {
  const token = presentedStaffToken(request);
  const staff = token ? await loadStaffSessionAtAnyStage(request.server.services.db, token, request.server.services.now()) : null;
  if (!staff && token) clearStaffCookie(reply);
  return staff;
}

/**
 * preHandler for every staff page: no live session → the sign-in page; a session part-way through
 * sign-in (a password without its second factor, a temporary password) → the page for its next step,
 * for GET and POST alike, so a password alone never reaches a staff page.
 */
export async function requireStaff(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const staff = await presentedSession(request, reply);
  // Returning the reply tells Fastify it has been sent: the route handler does not run.
  if (!staff) return reply.redirect(STAFF_SIGN_IN_PATH, 303);
  if (staff.stage !== 'signed_in') return reply.redirect(STAFF_STAGE_PATHS[staff.stage], 303);
  request.staff = staff;
  return undefined;
}

/**
 * preHandler for signing out: any live session, at any stage, may end itself (someone who gave their
 * password on a shared computer and has no code to hand must be able to leave).
 */
export async function requireStaffAtAnyStage(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const staff = await presentedSession(request, reply);
  if (!staff) return reply.redirect(STAFF_SIGN_IN_PATH, 303);
  request.staff = staff;
  return undefined;
}

/**
 * preHandler for the page of one sign-in step: only a session at that stage may use it; any other
 * session is sent to its own step (a signed-in one to the inbox).
 */
export function requireSignInStage(stage: Exclude<StaffSessionStage, 'signed_in'>) {
  return async function requireStaffStage(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const staff = await presentedSession(request, reply);
    if (!staff) return reply.redirect(STAFF_SIGN_IN_PATH, 303);
    if (staff.stage !== stage) return reply.redirect(STAFF_STAGE_PATHS[staff.stage], 303);
    request.staff = staff;
    return undefined;
  };
}

/**
 * preHandler for a staff route: a live session (else the sign-in page) whose role has the permission
 * (else a 403 page that says so). Every staff route but sign-out names one (permissions.ts).
 */
export function requirePermission(permission: Permission) {
  return async function requireStaffPermission(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const sent = await requireStaff(request, reply);
    if (sent) return sent;
    const staff = currentStaff(request);
    if (roleMay(staff.user.role, permission)) return undefined;
    return reply.page(
      'staff/views/not-permitted.njk',
      { pageTitle: 'You cannot use this page', ...staffLayout(staff) },
      { status: 403 },
    );
  };
}

/** The signed-in staff member; only call on routes behind requireStaff. */
export function currentStaff(request: FastifyRequest): StaffContext {
  if (!request.staff) throw new Error('currentStaff called on a route without requireStaff');
  return request.staff;
}

// The staff menu: each entry shows only to roles that may use the page behind it.
const STAFF_MENU: { href: string; text: string; permission: Permission }[] = [
  { href: '/staff', text: 'Inbox', permission: 'readReplies' },
  { href: '/staff/messages/new', text: 'Find a patient', permission: 'send' },
  { href: '/staff/diary', text: 'Diary', permission: 'manageDiary' },
  { href: '/staff/clinic', text: 'Clinics', permission: 'setUpClinics' },
  { href: '/staff/templates', text: 'Templates', permission: 'manageTemplates' },
  { href: '/staff/accounts', text: 'Staff', permission: 'manageStaff' },
  { href: '/staff/audit', text: 'Audit trail', permission: 'readAudit' },
];

/** What layout.njk needs on every staff page: the home link and the account area. */
export function staffLayout(staff: StaffContext | null): Record<string, unknown> {
  // Part-way through sign-in there is no menu: none of it can be used yet.
  if (staff && staff.stage !== 'signed_in') staff = null;
  return {
    homeHref: '/staff',
    footerLinks: [{ href: '/help', text: 'How secure links work for patients' }],
    ...(staff
      ? {
          account: {
            ariaLabel: 'Your account',
            items: [
              { href: '/staff/account', text: `${staff.user.name}, ${staff.organisation.name}`, icon: true },
              { href: '/staff/sign-out', text: 'Sign out' },
            ],
          },
          navigation: { ariaLabel: 'Staff menu', items: STAFF_MENU.filter((m) => roleMay(staff.user.role, m.permission)).map(({ href, text }) => ({ href, text })) },
        }
      : {}),
  };
}
