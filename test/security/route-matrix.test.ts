// The route matrix: every route Fastify registers has an access rule here, and each rule is tried with
// real requests from the people who must be refused — an anonymous visitor, the patient of another
// link, a staff member of another organisation, an API key of another organisation, and a browser
// that sends a state-changing form without a valid CSRF token. A route added without a rule, or a
// rule left for a route that is gone, fails the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import type { LightMyRequestResponse, RouteOptions } from 'fastify';
import { createTestApp } from '../helpers/app.ts';
import { CookieJar } from '../helpers/factories.ts';
import { dobFields } from '../helpers/patient.ts';
import { makeNotifyApiKey, STAND_IN_TEMPLATE_ID } from '../helpers/notify-stand-in.ts';
import { conversationItems, links, questionnaires } from '../../src/platform/db/schema.ts';
import { addQuestionnaire } from '../../src/features/questionnaires/questionnaires.service.ts';
import { CATALOGUE_URL, createTestStaff } from '../helpers/factories.ts';
import { enrolTestTotp, signInAsStaff } from '../helpers/staff.ts';
import { PERMISSIONS, roleMay, STAFF_ROLES, type Permission, type StaffRole } from '../../src/features/staff/permissions.ts';
import { BODY_A, PATIENT_A, addBookings, addFiles, addTemplates, addQuestionnaires, createWorld, send, snapshot, type CsrfMode, type Side, type World } from './security-world.ts';

type Rule = 'public' | 'patient-link' | 'staff' | 'api-key' | 'notify-bearer' | 'dev-only' | 'portal' | 'static';

/**
 * Who may use each route. HEAD routes follow their GET. Keys are "METHOD /url-pattern" exactly as
 * Fastify registers them.
 */
const RULES: Record<string, Rule> = {
  // Files: the NHS design system, the app's own CSS/JS, and swagger-ui's files.
  'GET /assets/nhsuk/*': 'static',
  'GET /assets/app/*': 'static',
  'GET /api/docs/static/*': 'static',
  'GET /api/docs/static/index.html': 'static',
  'GET /api/docs/static/swagger-initializer.js': 'static',
  // Our accessibility fixes for swagger-ui (colour contrast, a name for the "Servers" list).
  'GET /api/docs/static/theme/api-docs.css': 'static',
  'GET /api/docs/static/theme/api-docs.js': 'static',
  // What browsers, crawlers and phones ask for on their own: robots.txt, the favicon, 404s.
  'GET /favicon.ico': 'static',
  'GET /robots.txt': 'public',
  'GET /apple-touch-icon*': 'public',
  'GET /.well-known/*': 'public',
  // Pages and documents with no patient data.
  'GET /health': 'public',
  'GET /ready': 'public',
  // Open outside production (loopback only); production needs METRICS_TOKEN (metrics.test.ts).
  'GET /metrics': 'public',
  'GET /help': 'public',
  'GET /': 'public',
  'GET /api/docs': 'public',
  'GET /api/docs/json': 'public',
  'GET /api/docs/yaml': 'public',
  'GET /api/openapi.json': 'public',
  'GET /staff/sign-in': 'public',
  'POST /staff/sign-in': 'public',
  'GET /nhs-login/start': 'public',
  'GET /nhs-login/callback': 'public',
  'GET /portal/signed-out': 'public',
  // Signing out of nothing is harmless; the CSRF check still applies.
  'POST /portal/sign-out': 'public',
  // A link's front door: anyone holding the link gets the date-of-birth form, never the message.
  'GET /:token': 'public',
  'POST /:token': 'public',
  // Behind a link: only the browser that proved who it is for this link.
  'GET /:token/code': 'patient-link',
  'POST /:token/code': 'patient-link',
  'POST /:token/code/resend': 'patient-link',
  'GET /:token/conversation': 'patient-link',
  'POST /:token/conversation/reply': 'patient-link',
  // A questionnaire's pages: one question a page, Check your answers, Submit.
  'GET /:token/conversation/questions/:linkId': 'patient-link',
  'POST /:token/conversation/questions/:linkId': 'patient-link',
  'GET /:token/conversation/check': 'patient-link',
  'POST /:token/conversation/submit': 'patient-link',
  // An invitation to book: times of a day, check, confirm, cancel, the calendar file.
  'GET /:token/conversation/appointment/times': 'patient-link',
  'POST /:token/conversation/appointment/times': 'patient-link',
  'GET /:token/conversation/appointment/check': 'patient-link',
  'POST /:token/conversation/appointment/confirm': 'patient-link',
  'GET /:token/conversation/appointment/cancel': 'patient-link',
  'POST /:token/conversation/appointment/cancel': 'patient-link',
  'GET /:token/conversation/appointment/calendar.ics': 'patient-link',
  // A document: opened in the browser, or downloaded.
  'GET /:token/conversation/file': 'patient-link',
  'GET /:token/conversation/file/download': 'patient-link',
  // Staff pages: a signed-in staff member, and only their own organisation's patients.
  'GET /staff': 'staff',
  'GET /staff/sign-out': 'staff',
  'POST /staff/sign-out': 'staff',
  'GET /staff/messages/new': 'staff',
  'POST /staff/messages/new': 'staff',
  'GET /staff/patients/:patientId': 'staff',
  'GET /staff/patients/:patientId/message': 'staff',
  'POST /staff/patients/:patientId/message': 'staff',
  'GET /staff/conversations/:id': 'staff',
  'POST /staff/conversations/:id/resend': 'staff',
  'POST /staff/conversations/:id/reply': 'staff',
  'POST /staff/conversations/:id/revoke': 'staff',
  // The shared inbox: assignment, urgent, done, and who else has the conversation open.
  'GET /staff/conversations/:id/revoke': 'staff',
  'GET /staff/conversations/:id/viewers': 'staff',
  'POST /staff/conversations/:id/assign': 'staff',
  'POST /staff/conversations/:id/urgent': 'staff',
  'POST /staff/conversations/:id/done': 'staff',
  'GET /staff/patients/:patientId/questionnaire': 'staff',
  'POST /staff/patients/:patientId/questionnaire': 'staff',
  'GET /staff/conversations/:id/questionnaire-response': 'staff',
  // Booking: setting up clinics, the diary, a booking's cancel and move pages, inviting a patient.
  'GET /staff/clinic': 'staff',
  'GET /staff/clinic/clinicians/new': 'staff',
  'POST /staff/clinic/clinicians/new': 'staff',
  'GET /staff/clinic/locations/new': 'staff',
  'POST /staff/clinic/locations/new': 'staff',
  'GET /staff/clinic/appointment-types/new': 'staff',
  'POST /staff/clinic/appointment-types/new': 'staff',
  'GET /staff/clinic/sessions/new': 'staff',
  'POST /staff/clinic/sessions/new': 'staff',
  'GET /staff/diary': 'staff',
  'POST /staff/diary/slots/:slotId/block': 'staff',
  'POST /staff/diary/slots/:slotId/unblock': 'staff',
  'GET /staff/bookings/:bookingId/cancel': 'staff',
  'POST /staff/bookings/:bookingId/cancel': 'staff',
  'GET /staff/bookings/:bookingId/move': 'staff',
  'POST /staff/bookings/:bookingId/move': 'staff',
  'GET /staff/patients/:patientId/booking': 'staff',
  'POST /staff/patients/:patientId/booking': 'staff',
  // Files: sending a document, and a sent file's download and thumbnail.
  'GET /staff/patients/:patientId/document': 'staff',
  'POST /staff/patients/:patientId/document': 'staff',
  'GET /staff/files/:fileId': 'staff',
  'GET /staff/files/:fileId/thumbnail': 'staff',
  // The steps of signing in after the password (each for a session at that step only) and one's own
  // account page.
  'GET /staff/sign-in/code': 'staff',
  'POST /staff/sign-in/code': 'staff',
  'GET /staff/sign-in/recovery-code': 'staff',
  'POST /staff/sign-in/recovery-code': 'staff',
  'GET /staff/second-factor/set-up': 'staff',
  'POST /staff/second-factor/set-up': 'staff',
  'GET /staff/change-password': 'staff',
  'POST /staff/change-password': 'staff',
  'GET /staff/account': 'staff',
  'POST /staff/account/recovery-codes': 'staff',
  // Admins manage their organisation's staff accounts.
  'GET /staff/accounts': 'staff',
  'GET /staff/accounts/:staffId': 'staff',
  'GET /staff/accounts/:staffId/deactivate': 'staff',
  'POST /staff/accounts/:staffId/deactivate': 'staff',
  'POST /staff/accounts/:staffId/reactivate': 'staff',
  'GET /staff/accounts/:staffId/reset-second-factor': 'staff',
  'POST /staff/accounts/:staffId/reset-second-factor': 'staff',
  'POST /staff/accounts/:staffId/role': 'staff',
  'GET /staff/accounts/:staffId/set-up-link': 'staff',
  'POST /staff/accounts/:staffId/set-up-link': 'staff',
  'GET /staff/accounts/new': 'staff',
  'POST /staff/accounts/new': 'staff',
  // Admins' message templates, and the audit trail.
  'GET /staff/templates': 'staff',
  'GET /staff/templates/new': 'staff',
  'POST /staff/templates/new': 'staff',
  'GET /staff/templates/:templateId': 'staff',
  'POST /staff/templates/:templateId': 'staff',
  'GET /staff/templates/:templateId/delete': 'staff',
  'POST /staff/templates/:templateId/delete': 'staff',
  'GET /staff/audit': 'staff',
  'POST /staff/audit': 'staff',
  'GET /staff/audit.csv': 'staff',
  'GET /staff/audit/patients/:patientId': 'staff',
  // A one-time set-up link: the token is the credential (CSRF still applies).
  'GET /staff/set-up/:token': 'public',
  'POST /staff/set-up/:token': 'public',
  // The integrators' API: an API key, and only the key's organisation.
  'PUT /api/v1/patients/:nhsNumber': 'api-key',
  'POST /api/v1/messages': 'api-key',
  'GET /api/v1/messages/:id': 'api-key',
  'POST /api/v1/questionnaires': 'api-key',
  'GET /api/v1/questionnaires': 'api-key',
  'GET /api/v1/questionnaires/:id': 'api-key',
  'POST /api/v1/questionnaire-requests': 'api-key',
  'GET /api/v1/questionnaire-requests/:id/response': 'api-key',
  'GET /api/v1/appointment-types': 'api-key',
  'GET /api/v1/booking-slots': 'api-key',
  'POST /api/v1/booking-invitations': 'api-key',
  'GET /api/v1/booking-invitations/:id': 'api-key',
  'GET /api/v1/bookings': 'api-key',
  'POST /api/v1/documents': 'api-key',
  'GET /api/v1/documents/:id': 'api-key',
  // GOV.UK Notify's delivery receipts: the bearer token we gave Notify.
  'POST /callbacks/notify/sms': 'notify-bearer',
  // The development phone: never registered in production or with Notify.
  'GET /dev/phone': 'dev-only',
  'GET /dev/phone/:number': 'dev-only',
  // The patient portal: an NHS login session.
  'GET /portal': 'portal',
  'GET /portal/conversations/:id': 'portal',
  'POST /portal/conversations/:id/reply': 'portal',
  'GET /portal/conversations/:id/questions/:linkId': 'portal',
  'POST /portal/conversations/:id/questions/:linkId': 'portal',
  'GET /portal/conversations/:id/check': 'portal',
  'POST /portal/conversations/:id/submit': 'portal',
  'GET /portal/conversations/:id/appointment/times': 'portal',
  'POST /portal/conversations/:id/appointment/times': 'portal',
  'GET /portal/conversations/:id/appointment/check': 'portal',
  'POST /portal/conversations/:id/appointment/confirm': 'portal',
  'GET /portal/conversations/:id/appointment/cancel': 'portal',
  'POST /portal/conversations/:id/appointment/cancel': 'portal',
  'GET /portal/conversations/:id/appointment/calendar.ics': 'portal',
  'GET /portal/conversations/:id/file': 'portal',
  'GET /portal/conversations/:id/file/download': 'portal',
};

/**
 * The permission each staff route needs, written out here rather than read from the code, so a route
 * whose requirePermission names the wrong permission fails below. 'signed-in' is any staff member.
 */
const STAFF_PERMISSION: Record<string, Permission | 'signed-in'> = {
  'GET /staff': 'readReplies',
  'GET /staff/sign-out': 'signed-in',
  'GET /staff/sign-in/code': 'signed-in',
  'POST /staff/sign-in/code': 'signed-in',
  'GET /staff/sign-in/recovery-code': 'signed-in',
  'POST /staff/sign-in/recovery-code': 'signed-in',
  'GET /staff/second-factor/set-up': 'signed-in',
  'POST /staff/second-factor/set-up': 'signed-in',
  'GET /staff/change-password': 'signed-in',
  'POST /staff/change-password': 'signed-in',
  'GET /staff/account': 'signed-in',
  'POST /staff/account/recovery-codes': 'signed-in',
  'POST /staff/sign-out': 'signed-in',
  'GET /staff/messages/new': 'send',
  'POST /staff/messages/new': 'send',
  'GET /staff/patients/:patientId': 'send',
  'GET /staff/patients/:patientId/message': 'send',
  'POST /staff/patients/:patientId/message': 'send',
  'GET /staff/conversations/:id': 'readReplies',
  'POST /staff/conversations/:id/resend': 'send',
  'POST /staff/conversations/:id/reply': 'send',
  'POST /staff/conversations/:id/revoke': 'send',
  'GET /staff/conversations/:id/revoke': 'send',
  'GET /staff/conversations/:id/viewers': 'readReplies',
  'POST /staff/conversations/:id/assign': 'send',
  'POST /staff/conversations/:id/urgent': 'send',
  'POST /staff/conversations/:id/done': 'send',
  'GET /staff/patients/:patientId/questionnaire': 'send',
  'POST /staff/patients/:patientId/questionnaire': 'send',
  'GET /staff/conversations/:id/questionnaire-response': 'readAnswers',
  'GET /staff/clinic': 'setUpClinics',
  'GET /staff/clinic/clinicians/new': 'setUpClinics',
  'POST /staff/clinic/clinicians/new': 'setUpClinics',
  'GET /staff/clinic/locations/new': 'setUpClinics',
  'POST /staff/clinic/locations/new': 'setUpClinics',
  'GET /staff/clinic/appointment-types/new': 'setUpClinics',
  'POST /staff/clinic/appointment-types/new': 'setUpClinics',
  'GET /staff/clinic/sessions/new': 'setUpClinics',
  'POST /staff/clinic/sessions/new': 'setUpClinics',
  'GET /staff/diary': 'manageDiary',
  'POST /staff/diary/slots/:slotId/block': 'manageDiary',
  'POST /staff/diary/slots/:slotId/unblock': 'manageDiary',
  'GET /staff/bookings/:bookingId/cancel': 'manageDiary',
  'POST /staff/bookings/:bookingId/cancel': 'manageDiary',
  'GET /staff/bookings/:bookingId/move': 'manageDiary',
  'POST /staff/bookings/:bookingId/move': 'manageDiary',
  'GET /staff/patients/:patientId/booking': 'send',
  'POST /staff/patients/:patientId/booking': 'send',
  'GET /staff/patients/:patientId/document': 'send',
  'POST /staff/patients/:patientId/document': 'send',
  'GET /staff/files/:fileId': 'readReplies',
  'GET /staff/files/:fileId/thumbnail': 'readReplies',
  'GET /staff/templates': 'manageTemplates',
  'GET /staff/templates/new': 'manageTemplates',
  'POST /staff/templates/new': 'manageTemplates',
  'GET /staff/templates/:templateId': 'manageTemplates',
  'POST /staff/templates/:templateId': 'manageTemplates',
  'GET /staff/templates/:templateId/delete': 'manageTemplates',
  'POST /staff/templates/:templateId/delete': 'manageTemplates',
  'GET /staff/audit': 'readAudit',
  'POST /staff/audit': 'readAudit',
  'GET /staff/audit.csv': 'readAudit',
  'GET /staff/audit/patients/:patientId': 'readAudit',
  'GET /staff/accounts': 'manageStaff',
  'GET /staff/accounts/:staffId': 'manageStaff',
  'GET /staff/accounts/:staffId/deactivate': 'manageStaff',
  'POST /staff/accounts/:staffId/deactivate': 'manageStaff',
  'POST /staff/accounts/:staffId/reactivate': 'manageStaff',
  'GET /staff/accounts/:staffId/reset-second-factor': 'manageStaff',
  'POST /staff/accounts/:staffId/reset-second-factor': 'manageStaff',
  'POST /staff/accounts/:staffId/role': 'manageStaff',
  'GET /staff/accounts/:staffId/set-up-link': 'manageStaff',
  'POST /staff/accounts/:staffId/set-up-link': 'manageStaff',
  'GET /staff/accounts/new': 'manageStaff',
  'POST /staff/accounts/new': 'manageStaff',
};

/** The permission table as the practice sees it: what each role may do (features/staff/permissions.ts). */
const EXPECTED_ROLES: Record<Permission, StaffRole[]> = {
  readReplies: ['admin', 'clinician', 'receptionist'],
  send: ['admin', 'clinician', 'receptionist'],
  readAnswers: ['admin', 'clinician'],
  manageDiary: ['admin', 'clinician', 'receptionist'],
  setUpClinics: ['admin', 'receptionist'],
  manageTemplates: ['admin'],
  manageStaff: ['admin'],
  readAudit: ['admin'],
};

const NOTIFY_TOKEN = 'security-suite-notify-callback-token';
const NOTIFY_CONFIG = {
  SMS_PROVIDER: 'notify',
  NOTIFY_API_KEY: makeNotifyApiKey(),
  NOTIFY_BASE_URL: 'http://127.0.0.1:9',
  NOTIFY_TEMPLATE_ID: STAND_IN_TEMPLATE_ID,
  NOTIFY_CALLBACK_TOKEN: NOTIFY_TOKEN,
};

function routeKeys(routes: RouteOptions[]): Set<string> {
  const keys = new Set<string>();
  for (const route of routes) {
    for (const method of [route.method].flat()) keys.add(`${method} ${route.url}`);
  }
  // HEAD is answered by the GET handler (Fastify adds it); a HEAD-only route would need its own rule.
  for (const key of [...keys]) {
    if (key.startsWith('HEAD ') && keys.has(`GET ${key.slice(5)}`)) keys.delete(key);
  }
  return keys;
}

/** Routes about a questionnaire conversation: tried against the side's questionnaire, not its message. */
const isQuestionnaireRoute = (pattern: string) => /\/questions\/:linkId$|\/check$|\/submit$|\/questionnaire-response$|\/response$/.test(pattern);

/** Routes about a booking invitation or a booking: tried against the side's invitation and clinic. */
const isBookingRoute = (pattern: string) => /\/appointment\/|\/staff\/bookings\/|\/staff\/diary\/slots\/|\/booking-invitations\/:id$/.test(pattern);

/** A document's pages: tried against the side's document conversation. */
const isDocumentRoute = (pattern: string) => /\/file(\/download)?$/.test(pattern);

function filesOf(side: Side) {
  if (!side.files) throw new Error('the world has no files: call addFiles');
  return side.files;
}

function bookingOf(side: Side) {
  if (!side.booking) throw new Error('the world has no bookings: call addBookings');
  return side.booking;
}

function questionnaireOf(side: Side) {
  if (!side.questionnaire) throw new Error('the world has no questionnaires: call addQuestionnaires');
  return side.questionnaire;
}

/** The concrete URL of a route pattern, for the resources of one side. */
function urlFor(pattern: string, side: Side): string {
  const c = isQuestionnaireRoute(pattern)
    ? questionnaireOf(side).conversation
    : isBookingRoute(pattern)
      ? bookingOf(side).conversation
      : isDocumentRoute(pattern)
        ? filesOf(side).document
        : side.conversation;
  const query = (() => {
    const b = side.booking;
    if (!b) return '';
    if (pattern === '/api/v1/booking-slots') return `?appointmentTypeId=${b.clinic.type.id}&from=${b.date}&to=${b.date}`;
    if (pattern === '/api/v1/bookings') return `?from=${b.date}&to=${b.date}&includeCancelled=true`;
    if (pattern.endsWith('/appointment/times')) return `?date=${b.date}`;
    return '';
  })();
  return pattern
    .replace(':token', c.token)
    .replace(':slotId', side.booking?.freeSlotId ?? 'slot')
    .replace(':bookingId', side.booking?.bookingId ?? 'booking')
    .replace(':fileId', side.files?.attachmentFileId ?? 'file')
    .replace(':staffId', side.staff.id)
    .replace(':templateId', side.templateId ?? 'template')
    .replace(':linkId', side.questionnaire?.linkId ?? 'q')
    .replace(':patientId', c.patient.id)
    .replace(':id', c.conversationId)
    .replace(':nhsNumber', c.patient.nhsNumber)
    .replace(':number', c.patient.mobileE164.slice(1))
    .replace('/assets/nhsuk/*', '/assets/nhsuk/nhsuk-frontend.min.css')
    .replace('/assets/app/*', '/assets/app/app.css')
    .replace('/api/docs/static/*', '/api/docs/static/swagger-ui.css') + query;
}

/** A well-formed body for each state-changing route, so a refusal is about access, not bad input. */
function formFor(method: string, pattern: string, side: Side): Record<string, string> {
  const p = side.conversation.patient;
  switch (`${method} ${pattern}`) {
    case 'POST /:token':
      return dobFields(p.dateOfBirth);
    case 'POST /:token/code':
      return { code: '123456' };
    case 'POST /:token/conversation/reply':
    case 'POST /portal/conversations/:id/reply':
      return { reply: 'A reply that must not be stored' };
    case 'POST /staff/sign-in':
      return { email: side.staff.email, password: side.staff.password };
    case 'POST /staff/messages/new':
      return { searchBy: 'nhs-number', nhsNumber: p.nhsNumber };
    case 'POST /staff/patients/:patientId/message':
      return { body: 'A message that must not be sent', replyMode: 'none' };
    case 'POST /staff/conversations/:id/reply':
      return { replyBody: 'A staff reply that must not be sent' };
    case 'POST /staff/patients/:patientId/questionnaire':
      return { questionnaire: `${CATALOGUE_URL('phq-9')}|1.0.0`, closesAfterDays: '7' };
    case 'POST /:token/conversation/questions/:linkId':
    case 'POST /portal/conversations/:id/questions/:linkId':
      // "Nearly every day": unlike the answer already saved, so a stored change would show.
      return { value: 'LA6570-1' };
    case 'POST /:token/conversation/submit':
    case 'POST /portal/conversations/:id/submit':
      return { revision: '1' };
    case 'POST /:token/conversation/appointment/times':
    case 'POST /portal/conversations/:id/appointment/times':
    case 'POST /:token/conversation/appointment/confirm':
    case 'POST /portal/conversations/:id/appointment/confirm':
      return { slotId: bookingOf(side).freeSlotId, date: bookingOf(side).date };
    case 'POST /:token/conversation/appointment/cancel':
    case 'POST /portal/conversations/:id/appointment/cancel':
    case 'POST /staff/bookings/:bookingId/cancel':
      return { reason: 'A cancellation that must not happen' };
    case 'POST /staff/bookings/:bookingId/move':
      return { slotId: bookingOf(side).freeSlotId };
    // Another organisation's staff name this side's clinician, place and type: refused as unknown.
    case 'POST /staff/clinic/sessions/new': {
      const { clinic } = bookingOf(side);
      return { clinicianId: clinic.clinician.id, locationId: clinic.location.id, appointmentTypeId: clinic.type.id, firstDate: bookingOf(side).date, startTime: '13:00', endTime: '14:00' };
    }
    case 'POST /staff/conversations/:id/assign':
      return { staffId: side.staff.id };
    case 'POST /staff/conversations/:id/urgent':
      return { urgent: 'yes' };
    case 'POST /staff/conversations/:id/done':
      return { done: 'yes' };
    case 'POST /staff/patients/:patientId/booking':
      return { appointmentTypeId: bookingOf(side).clinic.type.id };
    default:
      return {};
  }
}

function jsonFor(method: string, pattern: string, side: Side): unknown {
  const p = side.conversation.patient;
  if (pattern === '/api/v1/messages') return { nhsNumber: p.nhsNumber, body: 'A message that must not be sent', replyMode: 'none' };
  if (pattern === '/api/v1/patients/:nhsNumber') return { givenName: 'Mallory', familyName: 'Attacker', dateOfBirth: '1990-01-01', mobileNumber: '07700900999' };
  if (pattern === '/api/v1/questionnaires' && method === 'POST') return MALLORY_QUESTIONNAIRE;
  if (pattern === '/api/v1/questionnaire-requests') return { nhsNumber: p.nhsNumber, questionnaire: { url: CATALOGUE_URL('phq-9'), version: '1.0.0' } };
  // JSON cannot carry the file, but its fields are checked (and the patient found) first: B's key is a 404.
  if (pattern === '/api/v1/documents') return { nhsNumber: p.nhsNumber, title: 'A document that must not be sent' };
  if (pattern === '/api/v1/booking-invitations') return { nhsNumber: p.nhsNumber, appointmentTypeId: bookingOf(side).clinic.type.id };
  return method === 'GET' ? undefined : {};
}

const MALLORY_QUESTIONNAIRE = {
  resourceType: 'Questionnaire',
  url: 'https://example.org/Questionnaire/mallory',
  version: '1',
  status: 'active',
  title: 'A questionnaire that must not be added',
  item: [{ linkId: 'q', type: 'string', text: 'Anything?' }],
};
const QUESTIONNAIRE_A_TITLE = 'Organisation A’s own questionnaire';

/**
 * A refusal: a redirect to where one signs in, or 401, 403, 404 or 410 — never a page with the other
 * side's data, never a 500.
 */
function assertRefused(res: LightMyRequestResponse, what: string, signIn: RegExp, owner: Side) {
  const status = res.statusCode;
  if (status === 302 || status === 303) {
    assert.match(String(res.headers.location), signIn, `${what}: redirected to ${res.headers.location}`);
  } else {
    assert.ok([401, 403, 404, 410].includes(status), `${what}: got ${status}, wanted a refusal`);
  }
  for (const secret of owner.secrets) assert.ok(!res.body.includes(secret), `${what}: the response shows "${secret}"`);
}

function assertNoLeak(res: LightMyRequestResponse, what: string, world: World) {
  assert.ok(res.statusCode < 500, `${what}: got ${res.statusCode}`);
  for (const secret of [...world.a.secrets, ...world.b.secrets]) {
    assert.ok(!res.body.includes(secret), `${what}: the response shows "${secret}"`);
  }
}

test('route matrix: every registered route has an access rule, and each rule holds for those who must be refused', async (t) => {
  const routes: RouteOptions[] = [];
  // As production has it: every staff account gives a code after its password.
  const testApp = await createTestApp({ config: { STAFF_SECOND_FACTOR: 'required' }, onRoute: (route) => void routes.push(route) });
  t.after(testApp.close);
  const notifyRoutes: RouteOptions[] = [];
  const notifyApp = await createTestApp({ config: NOTIFY_CONFIG, onRoute: (route) => void notifyRoutes.push(route) });
  t.after(notifyApp.close);

  const devKeys = routeKeys(routes);
  const notifyKeys = routeKeys(notifyRoutes);
  const registered = new Set([...devKeys, ...notifyKeys]);

  await t.test('no route without a rule, no rule without a route', () => {
    const unruled = [...registered].filter((k) => !(k in RULES)).sort();
    assert.deepEqual(unruled, [], `routes with no access rule in test/security/route-matrix.test.ts: ${unruled.join(', ')}`);
    const stale = Object.keys(RULES).filter((k) => !registered.has(k)).sort();
    assert.deepEqual(stale, [], `rules for routes that no longer exist: ${stale.join(', ')}`);
  });

  await t.test('dev-only routes are absent when texts go through Notify; notify-bearer routes only then', () => {
    for (const [key, rule] of Object.entries(RULES)) {
      if (rule === 'dev-only') assert.ok(!notifyKeys.has(key), `${key} is registered with SMS_PROVIDER=notify`);
      if (rule === 'notify-bearer') assert.ok(!devKeys.has(key), `${key} is registered without Notify`);
    }
  });

  const { app, services } = testApp;
  const world = await createWorld(app, services);
  await addQuestionnaires(app, services, world);
  await addBookings(app, services, world);
  await addFiles(app, services, world);
  await addTemplates(services, world);
  const { a, b } = world;

  await t.test('controls: each owner gets in, so the refusals below are about access', async () => {
    const message = await send(app, 'GET', `/${a.conversation.token}/conversation`, { jar: a.patientJar.clone() });
    assert.equal(message.statusCode, 200);
    assert.ok(message.body.includes(BODY_A));
    const conversation = await send(app, 'GET', `/staff/conversations/${a.conversation.conversationId}`, { jar: a.staffJar.clone() });
    assert.equal(conversation.statusCode, 200);
    assert.ok(conversation.body.includes(PATIENT_A.familyName));
    const api = await send(app, 'GET', `/api/v1/messages/${a.conversation.conversationId}`, { headers: { authorization: `Bearer ${a.apiKey}` } });
    assert.equal(api.statusCode, 200);
    // The questionnaire routes name a questionnaire each owner can open.
    const q = questionnaireOf(a);
    for (const pattern of ['/:token/conversation/questions/:linkId', '/:token/conversation/check']) {
      const page = await send(app, 'GET', urlFor(pattern, a), { jar: q.patientJar.clone() });
      // Check your answers sends an unfinished questionnaire on to its next question.
      assert.ok([200, 303].includes(page.statusCode), `${pattern} as its patient: ${page.statusCode}`);
      if (page.statusCode === 303) assert.match(String(page.headers.location), new RegExp(`^/${q.conversation.token}/conversation/questions/`));
    }
    const json = await send(app, 'GET', urlFor('/staff/conversations/:id/questionnaire-response', a), { jar: a.staffJar.clone() });
    assert.equal(json.statusCode, 200);
    assert.ok(json.body.includes(PATIENT_A.nhsNumber));
    const apiResponse = await send(app, 'GET', urlFor('/api/v1/questionnaire-requests/:id/response', a), { headers: { authorization: `Bearer ${a.apiKey}` } });
    assert.equal(apiResponse.statusCode, 200);
    assert.equal(apiResponse.json().status, 'in-progress');
    const sendPage = await send(app, 'GET', urlFor('/staff/patients/:patientId/questionnaire', a), { jar: a.staffJar.clone() });
    assert.equal(sendPage.statusCode, 200);
    // The file routes name files each owner can reach.
    for (const pattern of ['/:token/conversation/file', '/:token/conversation/file/download']) {
      const file = await send(app, 'GET', urlFor(pattern, a), { jar: filesOf(a).patientJar.clone() });
      assert.equal(file.statusCode, 200, `${pattern} as its patient`);
      assert.equal(file.headers['content-type'], 'application/pdf');
    }
    for (const pattern of ['/staff/files/:fileId', '/staff/files/:fileId/thumbnail']) {
      const file = await send(app, 'GET', urlFor(pattern, a), { jar: a.staffJar.clone() });
      assert.equal(file.statusCode, 200, `${pattern} as A's staff`);
      assert.equal(file.headers['content-type'], 'image/jpeg');
    }
  });

  const routesOf = (rule: Rule) =>
    Object.entries(RULES)
      .filter(([key, r]) => r === rule && devKeys.has(key))
      .map(([key]) => {
        const [method, pattern] = key.split(' ') as [string, string];
        return { key, method, pattern };
      });

  await t.test('static: files are served, traversal and unknown files are 404, never 500', async () => {
    for (const { key, pattern } of routesOf('static')) {
      const res = await send(app, 'GET', urlFor(pattern, a));
      assert.ok([200, 302, 404].includes(res.statusCode), `${key}: ${res.statusCode}`);
      assertNoLeak(res, key, world);
    }
    for (const url of ['/assets/app/../../config/config.ts', '/assets/app/%2e%2e/%2e%2e/config/config.ts', '/assets/nhsuk/../../../package.json', '/assets/app/nope.js']) {
      const res = await send(app, 'GET', url);
      assert.ok([400, 403, 404].includes(res.statusCode), `${url}: ${res.statusCode}`);
      assert.doesNotMatch(res.body, /COOKIE_SECRET|"dependencies"/, url);
    }
  });

  await t.test('public: anyone may look, and nothing shows either patient’s data', async () => {
    for (const { key, method, pattern } of routesOf('public')) {
      if (method !== 'GET') continue;
      for (const [who, jar] of [['anonymous', new CookieJar()], ['patient B', b.patientJar.clone()], ['staff B', b.staffJar.clone()]] as const) {
        const res = await send(app, method, urlFor(pattern, a), { jar });
        assertNoLeak(res, `${key} as ${who}`, world);
      }
    }
  });

  await t.test('patient-link: anonymous and another link’s patient are sent to the date of birth page', async () => {
    const before = await snapshot(services);
    for (const { key, method, pattern } of routesOf('patient-link')) {
      const url = urlFor(pattern, a);
      const token = (
        isQuestionnaireRoute(pattern)
          ? questionnaireOf(a).conversation
          : isBookingRoute(pattern)
            ? bookingOf(a).conversation
            : isDocumentRoute(pattern)
              ? filesOf(a).document
              : a.conversation
      ).token;
      const signIn = new RegExp(`^/${token}(\\?session=expired)?$`);
      const refused: Array<readonly [string, CookieJar]> = [['anonymous', new CookieJar()], ['patient B', b.patientJar.clone()], ['staff A', a.staffJar.clone()]];
      if (isQuestionnaireRoute(pattern)) refused.push(['patient B, in their own questionnaire', questionnaireOf(b).patientJar.clone()]);
      if (isBookingRoute(pattern)) refused.push(['patient B, in their own invitation', bookingOf(b).patientJar.clone()], ['patient A, in their message', a.patientJar.clone()]);
      if (isDocumentRoute(pattern)) refused.push(['patient B, in their own document', filesOf(b).patientJar.clone()], ['patient A, in their message', a.patientJar.clone()]);
      for (const [who, jar] of refused) {
        const res = await send(app, method, url, { jar, form: formFor(method, pattern, a) });
        assertRefused(res, `${key} as ${who}`, signIn, a);
      }
    }
    assert.equal(await snapshot(services), before, 'a refused request changed stored data');
  });

  await t.test('staff: anonymous is sent to sign in; another organisation gets 404 and changes nothing', async () => {
    const before = await snapshot(services);
    const signIn = /^\/staff\/sign-in$/;
    for (const { key, method, pattern } of routesOf('staff')) {
      const url = urlFor(pattern, a);
      const anonymous = await send(app, method, url, { form: formFor(method, pattern, a) });
      assertRefused(anonymous, `${key} as anonymous`, signIn, a);
      const patient = await send(app, method, url, { jar: a.patientJar.clone(), form: formFor(method, pattern, a) });
      assertRefused(patient, `${key} as patient A`, signIn, a);
      if (pattern === '/staff/sign-out') continue; // staff B may sign themselves out
      const other = await send(app, method, url, { jar: b.staffJar.clone(), form: formFor(method, pattern, a) });
      if (pattern.includes(':')) {
        assert.equal(other.statusCode, 404, `${key} as staff B`);
        assertRefused(other, `${key} as staff B`, signIn, a);
      } else {
        // Pages of one's own organisation (inbox, search): staff B sees only B's patients. (The search
        // form shows back the NHS number staff B typed, so only A's other details count here.)
        assert.ok(other.statusCode < 500, `${key} as staff B: ${other.statusCode}`);
        for (const secret of [BODY_A, PATIENT_A.familyName]) assert.ok(!other.body.includes(secret), `${key} as staff B shows "${secret}"`);
      }
    }
    assert.equal(await snapshot(services), before, 'a refused request changed stored data');
    const [link] = await services.db.select().from(links).where(eq(links.id, a.conversation.linkId));
    assert.equal(link!.revokedAt, null);
  });

  await t.test('roles: the permission table is the one the practice was promised, and every staff route names its permission', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(PERMISSIONS).map(([p, roles]) => [p, [...roles].sort()])),
      Object.fromEntries(Object.entries(EXPECTED_ROLES).map(([p, roles]) => [p, [...roles].sort()])),
    );
    const staffRoutes = Object.entries(RULES).filter(([, r]) => r === 'staff').map(([k]) => k).sort();
    assert.deepEqual(Object.keys(STAFF_PERMISSION).sort(), staffRoutes, 'every staff route, and only those, has a permission in STAFF_PERMISSION');
  });

  await t.test('roles: a role without the permission gets 403 and changes nothing; a role with it gets past the check', async () => {
    const org = a.conversation.organisation.id;
    const jars = {} as Record<StaffRole, CookieJar>;
    for (const role of STAFF_ROLES) {
      const member = await createTestStaff(services, org, { role });
      jars[role] = await signInAsStaff(app, member.email, member.password, new CookieJar(), { totpSecret: await enrolTestTotp(services, member.id) });
    }
    const before = await snapshot(services);
    for (const { key, method, pattern } of routesOf('staff')) {
      const permission = STAFF_PERMISSION[key];
      if (!permission || permission === 'signed-in') continue;
      for (const role of STAFF_ROLES) {
        const allowed = roleMay(role, permission);
        // Only pages are tried by roles that may use them: a permitted POST would really revoke a link.
        if (allowed && method !== 'GET') continue;
        const res = await send(app, method, urlFor(pattern, a), { jar: jars[role].clone(), form: formFor(method, pattern, a) });
        if (allowed) {
          assert.ok(res.statusCode !== 403 && res.statusCode < 500, `${key} as ${role}: ${res.statusCode}`);
        } else {
          assert.equal(res.statusCode, 403, `${key} as ${role}: ${res.statusCode}`);
          assert.match(res.body, /You cannot use this page/, `${key} as ${role}`);
          for (const secret of a.secrets) assert.ok(!res.body.includes(secret), `${key} as ${role} shows "${secret}"`);
        }
      }
    }
    assert.equal(await snapshot(services), before, 'a refused role changed stored data');
  });

  await t.test('second factor: a password without its code reaches no staff page, and changes nothing', async () => {
    const member = await createTestStaff(services, a.conversation.organisation.id, { role: 'admin' });
    await enrolTestTotp(services, member.id);
    const halfway = new CookieJar();
    const page = await send(app, 'GET', '/staff/sign-in', { jar: halfway });
    assert.equal(page.statusCode, 200);
    const password = await send(app, 'POST', '/staff/sign-in', { jar: halfway, form: { email: member.email, password: member.password } });
    assert.equal(password.headers.location, '/staff/sign-in/code', 'control: the password was right');
    const before = await snapshot(services);
    for (const { key, method, pattern } of routesOf('staff')) {
      if (STAFF_PERMISSION[key] === 'signed-in') continue; // the sign-in steps themselves, and signing out
      const res = await send(app, method, urlFor(pattern, a), { jar: halfway.clone(), form: formFor(method, pattern, a) });
      assertRefused(res, `${key} with a password but no code`, /^\/staff\/sign-in(\/code)?$/, a);
    }
    assert.equal(await snapshot(services), before, 'a half-signed-in session changed stored data');
  });

  await t.test('api-key: no key, a wrong key and a staff cookie get 401; another organisation’s key gets 404', async () => {
    // A's own questionnaire, so GET /api/v1/questionnaires/:id names something that exists.
    const added = await addQuestionnaire(services, {
      organisationId: a.conversation.organisation.id,
      json: { ...MALLORY_QUESTIONNAIRE, url: 'https://example.org/Questionnaire/a', title: QUESTIONNAIRE_A_TITLE },
      author: { type: 'operator', operator: 'test' },
    });
    const questionnaireUrl = `/api/v1/questionnaires/${added.questionnaire.id}`;
    const mineQ = await send(app, 'GET', questionnaireUrl, { headers: { authorization: `Bearer ${a.apiKey}` } });
    assert.equal(mineQ.statusCode, 200, 'control: A reads its own questionnaire');
    const questionnairesBefore = (await services.db.select().from(questionnaires)).length;
    const before = await snapshot(services);
    const wrongKey = a.apiKey.slice(0, -4) + (a.apiKey.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const { key, method, pattern } of routesOf('api-key')) {
      const url = pattern === '/api/v1/questionnaires/:id' ? questionnaireUrl : urlFor(pattern, a);
      const json = jsonFor(method, pattern, a);
      for (const [who, headers, jar] of [
        ['no key', {}, undefined],
        ['a wrong key', { authorization: `Bearer ${wrongKey}` }, undefined],
        ['staff A’s cookies', {}, a.staffJar.clone()],
        ['patient A’s cookies', {}, a.patientJar.clone()],
      ] as const) {
        const res = await send(app, method, url, { headers: { ...headers }, jar, json });
        assert.equal(res.statusCode, 401, `${key} with ${who}`);
        assertRefused(res, `${key} with ${who}`, /^$/, a);
      }
      if (method === 'PUT') continue; // checked below: B's own record of the NHS number, not A's
      if (pattern === '/api/v1/questionnaires') continue; // B's own collection: checked below
      if (['/api/v1/appointment-types', '/api/v1/booking-slots', '/api/v1/bookings'].includes(pattern)) {
        // B's own collections: with A's ids in the query they hold nothing of A's.
        const own = await send(app, method, url, { headers: { authorization: `Bearer ${b.apiKey}` } });
        assert.ok([200, 400].includes(own.statusCode), `${key} with B's key: ${own.statusCode}`);
        for (const secret of [...a.secrets, bookingOf(a).clinic.type.id, bookingOf(a).bookedSlotId, bookingOf(a).freeSlotId, bookingOf(a).bookingId]) {
          assert.ok(!own.body.includes(secret), `${key} with B's key shows "${secret}"`);
        }
        continue;
      }
      const other = await send(app, method, url, { headers: { authorization: `Bearer ${b.apiKey}` }, json });
      assert.equal(other.statusCode, 404, `${key} with B's key`);
      assertRefused(other, `${key} with B's key`, /^$/, a);
      assert.ok(!other.body.includes(QUESTIONNAIRE_A_TITLE), `${key} with B's key shows A's questionnaire`);
    }
    assert.equal(await snapshot(services), before, 'a refused request changed stored data');
    assert.equal((await services.db.select().from(questionnaires)).length, questionnairesBefore, 'a refused request added a questionnaire');
    // B's key lists and adds only B's own: A's questionnaire is not among them.
    const bList = await send(app, 'GET', '/api/v1/questionnaires', { headers: { authorization: `Bearer ${b.apiKey}` } });
    assert.equal(bList.statusCode, 200);
    assert.ok(!bList.body.includes(QUESTIONNAIRE_A_TITLE) && !bList.body.includes(added.questionnaire.id), "B's list shows A's questionnaire");
    const bAdd = await send(app, 'POST', '/api/v1/questionnaires', { headers: { authorization: `Bearer ${b.apiKey}` }, json: MALLORY_QUESTIONNAIRE });
    assert.equal(bAdd.statusCode, 201);
    const aList = await send(app, 'GET', '/api/v1/questionnaires', { headers: { authorization: `Bearer ${a.apiKey}` } });
    assert.ok(!aList.body.includes(MALLORY_QUESTIONNAIRE.title), "B's questionnaire shows in A's list");
    // B's key may keep its own record for the same NHS number; A's record is untouched by it.
    const put = await send(app, 'PUT', `/api/v1/patients/${a.conversation.patient.nhsNumber}`, {
      headers: { authorization: `Bearer ${b.apiKey}` },
      json: jsonFor('PUT', '/api/v1/patients/:nhsNumber', a),
    });
    assert.equal(put.statusCode, 201);
    const mine = await send(app, 'GET', `/staff/conversations/${a.conversation.conversationId}`, { jar: a.staffJar.clone() });
    assert.ok(mine.body.includes(PATIENT_A.familyName));
    assert.ok(!mine.body.includes('Attacker'));
  });

  await t.test('portal: without an NHS login session everyone is sent to the home page', async () => {
    const before = await snapshot(services);
    for (const { key, method, pattern } of routesOf('portal')) {
      const url = urlFor(pattern, a);
      for (const [who, jar] of [['anonymous', new CookieJar()], ['patient A (link session)', a.patientJar.clone()], ['staff A', a.staffJar.clone()]] as const) {
        const res = await send(app, method, url, { jar, form: formFor(method, pattern, a) });
        assertRefused(res, `${key} as ${who}`, /^\/(\?session=expired)?$/, a);
      }
    }
    assert.equal(await snapshot(services), before);
  });

  await t.test('CSRF: every state-changing form is refused with 403 without a valid token, even with the owner’s cookies', async () => {
    const before = await snapshot(services);
    const itemsBefore = (await services.db.select().from(conversationItems)).length;
    for (const [key, rule] of Object.entries(RULES)) {
      const [method, pattern] = key.split(' ') as [string, string];
      if (method === 'GET' || rule === 'api-key' || rule === 'notify-bearer' || !devKeys.has(key)) continue;
      const owner =
        rule === 'patient-link' && isQuestionnaireRoute(pattern)
          ? questionnaireOf(a).patientJar
          : rule === 'patient-link' && isBookingRoute(pattern)
            ? bookingOf(a).patientJar
            : rule === 'patient-link' || pattern === '/:token'
            ? a.patientJar
            : rule === 'staff'
              ? a.staffJar
              : new CookieJar();
      for (const mode of ['none', 'wrong', 'foreign'] as CsrfMode[]) {
        const res = await send(app, method, urlFor(pattern, a), { jar: owner.clone(), form: formFor(method, pattern, a), csrf: mode, foreignJar: b.staffJar.clone() });
        assert.equal(res.statusCode, 403, `${key} with CSRF ${mode}: ${res.statusCode}`);
        assert.match(res.body, /Your form could not be sent/);
        assert.equal(res.headers['set-cookie'] === undefined || !String(res.headers['set-cookie']).includes('__Host-dovecote-staff='), true);
      }
    }
    assert.equal(await snapshot(services), before, 'a request without a valid CSRF token changed stored data');
    assert.equal((await services.db.select().from(conversationItems)).length, itemsBefore);
  });

  await t.test('notify-bearer: no token, a wrong token and a signed-in browser get 401 problems', async () => {
    const receipt = { id: 'x', reference: null, to: '07700900001', status: 'delivered', created_at: 'now', notification_type: 'sms' };
    for (const { key, method, pattern } of Object.entries(RULES)
      .filter(([k, r]) => r === 'notify-bearer' && notifyKeys.has(k))
      .map(([k]) => ({ key: k, method: k.split(' ')[0]!, pattern: k.split(' ')[1]! }))) {
      for (const [who, headers] of [
        ['no token', {}],
        ['a wrong token', { authorization: `Bearer ${NOTIFY_TOKEN}x` }],
        ['Basic auth', { authorization: `Basic ${Buffer.from(`x:${NOTIFY_TOKEN}`).toString('base64')}` }],
      ] as const) {
        const res = await send(notifyApp.app, method, pattern, { headers: { ...headers }, json: receipt });
        assert.equal(res.statusCode, 401, `${key} with ${who}`);
        assert.match(String(res.headers['content-type']), /application\/problem\+json/);
      }
    }
  });
});
