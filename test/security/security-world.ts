// The world the security suite attacks: two organisations, each with a signed-in staff member, an API
// key, a patient, and a message whose link has been opened on a trusted, verified device. Everything
// is made through the real pages and services, so the cookies and rows are the ones production makes.
import { and, eq } from 'drizzle-orm';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../src/services.ts';
import { createApiKey } from '../../src/features/api/api-keys.service.ts';
import {
  auditEvents,
  bookingHolds,
  bookings,
  bookingSlots,
  conversationItems,
  conversations,
  files,
  messageTemplates,
  links,
  outboundSms,
  patients,
  questionnaireResponses,
  securityCodes,
  staffUsers,
} from '../../src/platform/db/schema.ts';
import { sendQuestionnaire } from '../../src/features/questionnaires/questionnaire-sending.service.ts';
import {
  CATALOGUE_URL,
  CookieJar,
  createTestConversation,
  createTestOrganisation,
  createTestStaff,
  latestLinkToken,
  type TEST_PATIENT,
  type TestConversation,
} from '../helpers/factories.ts';
import { get, postForm, submitDob } from '../helpers/patient.ts';
import { formKeyFrom, postMultipart, sampleJpeg, samplePdf } from '../helpers/files.ts';
import { takeFile } from '../../src/features/files/file-intake.service.ts';
import { sendDocument } from '../../src/features/documents/documents.service.ts';
import { enrolTestTotp, signInAsStaff } from '../helpers/staff.ts';
import { newSubmissionId } from '../../src/features/staff/staff-submissions.ts';
import { insertTemplate } from '../../src/features/templates/templates.repository.ts';
import { bookAsThePatient, createTestClinic, createTestInvitation, type TestClinic } from '../helpers/booking.ts';
import { addDays, londonDate } from '../../src/features/booking/booking-times.ts';

/** The first patient: values unlike the documentation's examples, so a leak cannot be mistaken for one. */
export const PATIENT_A = {
  nhsNumber: '9990000034',
  givenName: 'Imogen',
  familyName: 'Quartermaine',
  dateOfBirth: '1984-03-12',
  mobileNumber: '+447700900001',
};

/** A second patient, in a second organisation, who must never see or touch the first's things. */
export const OTHER_PATIENT = {
  nhsNumber: '9990000026',
  givenName: 'Tomasz',
  familyName: 'Evanski',
  dateOfBirth: '1952-11-30',
  mobileNumber: '+447700900002',
};

export const BODY_A = 'Your blood test results for Zanzibar are normal.';
export const BODY_B = 'Your x-ray appointment for Quokka is confirmed.';

export interface Side {
  conversation: TestConversation;
  staff: { id: string; email: string; password: string };
  /** A browser signed in as this organisation's staff member. */
  staffJar: CookieJar;
  /** The browser that opened this side's link first: trusted and verified. */
  patientJar: CookieJar;
  apiKey: string;
  /** Words only this side's pages may show: another side seeing one of them is a leak. */
  secrets: string[];
  /** A questionnaire sent to the same patient, once addQuestionnaires has run. */
  questionnaire?: SideQuestionnaire;
  /** An invitation to book sent to the same patient, with one booking made, once addBookings has run. */
  booking?: SideBooking;
  /** A document sent to the same patient, and a photo sent with a reply to the message, once addFiles has run. */
  files?: SideFiles;
  /** One of the organisation's message templates, once addTemplates has run. */
  templateId?: string;
}

export interface SideFiles {
  /** The document's conversation, and the browser that opened its link first. */
  document: TestConversation;
  patientJar: CookieJar;
  documentFileId: string;
  /** The JPEG the patient sent with a reply to the side's message. */
  attachmentFileId: string;
}

export interface SideBooking {
  conversation: TestConversation;
  clinic: TestClinic;
  /** The browser that opened the invitation's link first (trusted, verified). */
  patientJar: CookieJar;
  bookingId: string;
  /** The clinic's London date (YYYY-MM-DD). */
  date: string;
  /** The booked slot, and a free one of the same clinic. */
  bookedSlotId: string;
  freeSlotId: string;
}

export interface SideQuestionnaire {
  conversation: TestConversation;
  /** The browser that opened the questionnaire's link first, and saved the answer to its first question. */
  patientJar: CookieJar;
  /** A question of it (answered), for routes with :linkId. */
  linkId: string;
  /** A valid answer to that question (PHQ-9 "Several days"), so a refused post is about access. */
  value: string;
}

export interface World {
  a: Side;
  b: Side;
}

async function makeSide(app: FastifyInstance, services: Services, patient: typeof TEST_PATIENT, body: string): Promise<Side> {
  const organisation = await createTestOrganisation(services);
  const conversation = await createTestConversation(services, { organisation, patient, body, replyMode: 'conversation' });
  const staff = await createTestStaff(services, organisation.id);
  // Signed in as production has it: password, then a code from the account's authenticator.
  const staffJar = await signInAsStaff(app, staff.email, staff.password, new CookieJar(), { totpSecret: await enrolTestTotp(services, staff.id) });
  const patientJar = new CookieJar();
  const opened = await submitDob(app, conversation.token, patientJar, patient.dateOfBirth);
  if (opened.headers.location !== `/${conversation.token}/conversation`) throw new Error(`the first device was not let in: ${opened.statusCode}`);
  const { key } = await createApiKey(services.db, { organisationId: organisation.id, name: 'Security suite' });
  return {
    conversation,
    staff: { id: staff.id, email: staff.email, password: staff.password },
    staffJar,
    patientJar,
    apiKey: key,
    secrets: [body, patient.familyName, patient.nhsNumber],
  };
}

export async function createWorld(app: FastifyInstance, services: Services): Promise<World> {
  const a = await makeSide(app, services, PATIENT_A, BODY_A);
  const b = await makeSide(app, services, OTHER_PATIENT, BODY_B);
  return { a, b };
}

export const QUESTIONNAIRE_LINK_ID = 'phq9-q1';
const PHQ9_SEVERAL_DAYS = 'LA6569-3';

/**
 * Sends each side's patient a PHQ-9, opens it on a first device and saves the first answer, so the
 * questionnaire routes (pages, Check your answers, the response as JSON) name something that exists.
 */
export async function addQuestionnaires(app: FastifyInstance, services: Services, world: World): Promise<void> {
  for (const side of [world.a, world.b]) {
    const { organisation, patient } = side.conversation;
    const sent = await sendQuestionnaire(services, {
      organisationId: organisation.id,
      patient,
      url: CATALOGUE_URL('phq-9'),
      version: '1.0.0',
      sentBy: { staffId: side.staff.id },
    });
    const token = await latestLinkToken(services, sent.conversationId);
    const patientJar = new CookieJar();
    const opened = await submitDob(app, token, patientJar, patient.dateOfBirth);
    if (opened.headers.location !== `/${token}/conversation`) throw new Error(`the questionnaire's first device was not let in: ${opened.statusCode}`);
    const question = `/${token}/conversation/questions/${QUESTIONNAIRE_LINK_ID}`;
    const saved = await postForm(app, question, patientJar, { value: PHQ9_SEVERAL_DAYS }, { csrfPage: question });
    if (saved.statusCode !== 303) throw new Error(`the first answer was not saved: ${saved.statusCode}`);
    side.questionnaire = {
      conversation: { organisation, patient, conversationId: sent.conversationId, linkId: sent.linkId, token, staffId: side.staff.id },
      patientJar,
      linkId: QUESTIONNAIRE_LINK_ID,
      value: PHQ9_SEVERAL_DAYS,
    };
  }
}

/**
 * Gives each side a clinic (on the test clock's next week), sends its patient an invitation to book,
 * opens it on a first device and books the first time, so the booking routes (patient pages, the
 * diary, a booking's cancel and move pages) name something that exists.
 */
export async function addBookings(app: FastifyInstance, services: Services, world: World): Promise<void> {
  for (const side of [world.a, world.b]) {
    const { organisation, patient } = side.conversation;
    // A week from the app's clock, whatever today is: every slot is in the future and in the window.
    const date = addDays(londonDate(services.now()), 7);
    const clinic = await createTestClinic(services, { organisation, date });
    const invitation = await createTestInvitation(services, clinic, { patient });
    const patientJar = new CookieJar();
    const opened = await submitDob(app, invitation.token, patientJar, patient.dateOfBirth);
    if (opened.headers.location !== `/${invitation.token}/conversation`) throw new Error(`the invitation's first device was not let in: ${opened.statusCode}`);
    const booked = await bookAsThePatient(services, invitation, clinic.slots[0]!.id);
    if (!('booked' in booked)) throw new Error(`the first booking was refused: ${JSON.stringify(booked)}`);
    side.booking = {
      conversation: invitation,
      clinic,
      patientJar,
      bookingId: booked.booked.booking.id,
      date,
      bookedSlotId: clinic.slots[0]!.id,
      freeSlotId: clinic.slots[1]!.id,
    };
  }
}

/**
 * Gives each side's patient a document (sent by staff, its link opened on a first device) and sends a
 * photo with a reply to the side's message, so the file routes (the document's pages, staff downloads
 * and thumbnails) name files that exist.
 */
export async function addFiles(app: FastifyInstance, services: Services, world: World): Promise<void> {
  for (const [side, word] of [[world.a, 'Zanzibar'], [world.b, 'Quokka']] as const) {
    const { organisation, patient } = side.conversation;
    const taken = await takeFile(services, {
      body: Readable.from([samplePdf(`Letter about ${word}`)]),
      originalName: `${word} letter.pdf`,
      purpose: 'document',
      allowed: ['application/pdf'],
      maxBytes: services.config.files.documentMaxBytes,
      organisationId: organisation.id,
      conversationId: null,
      draftKey: `security-suite-${word.toLowerCase()}`,
      uploadedByStaffId: side.staff.id,
      availableDays: services.config.files.documentAvailableDays,
      actor: { type: 'staff', id: side.staff.id },
    });
    if (!taken.ok) throw new Error(`the document was refused: ${taken.refusal}`);
    const sent = await sendDocument(services, { organisationId: organisation.id, patient, title: `${word} letter`, note: '', file: taken.file, sentBy: { staffId: side.staff.id } });
    const token = await latestLinkToken(services, sent.conversationId);
    const patientJar = new CookieJar();
    const opened = await submitDob(app, token, patientJar, patient.dateOfBirth);
    if (opened.headers.location !== `/${token}/conversation`) throw new Error(`the document's first device was not let in: ${opened.statusCode}`);

    const page = `/${side.conversation.token}/conversation`;
    const replyKey = formKeyFrom((await get(app, page, side.patientJar)).body, 'replyKey');
    const replied = await postMultipart(app, `${page}/reply`, side.patientJar, [
      ['replyKey', replyKey],
      ['reply', `A photo of ${word}`],
      ['files', { fileName: `${word.toLowerCase()}-rash.jpg`, content: await sampleJpeg() }],
      ['action', 'send'],
    ], { csrfPage: page });
    if (replied.statusCode !== 303) throw new Error(`the reply with a photo was not sent: ${replied.statusCode}`);
    const [attachment] = await services.db.select().from(files).where(and(eq(files.conversationId, side.conversation.conversationId), eq(files.purpose, 'attachment')));
    side.files = {
      document: { organisation, patient, conversationId: sent.conversationId, linkId: sent.linkId, token, staffId: side.staff.id },
      patientJar,
      documentFileId: taken.file.id,
      attachmentFileId: attachment!.id,
    };
    side.secrets.push(`${word} letter`, `${word.toLowerCase()}-rash`);
  }
}

/** Every row of the tables that hold what patients and staff care about, for before/after comparisons. */
export async function snapshotRows(services: Services): Promise<Record<string, Array<Record<string, unknown>>>> {
  const db = services.db;
  const tables = {
    patients: await db.select().from(patients).orderBy(patients.id),
    conversations: await db.select().from(conversations).orderBy(conversations.id),
    items: await db.select().from(conversationItems).orderBy(conversationItems.id),
    links: await db.select().from(links).orderBy(links.id),
    codes: await db.select().from(securityCodes).orderBy(securityCodes.id),
    texts: await db.select({ id: outboundSms.id, kind: outboundSms.kind }).from(outboundSms).orderBy(outboundSms.id),
    staff: await db.select().from(staffUsers).orderBy(staffUsers.id),
    // Keyed by conversation (the table's primary key), as `id` for assertUnchangedRows.
    questionnaireResponses: await db
      .select({ id: questionnaireResponses.conversationId, answers: questionnaireResponses.answers, revision: questionnaireResponses.revision, submittedAt: questionnaireResponses.submittedAt })
      .from(questionnaireResponses)
      .orderBy(questionnaireResponses.conversationId),
    bookings: await db.select().from(bookings).orderBy(bookings.id),
    slots: await db.select({ id: bookingSlots.id, blockedAt: bookingSlots.blockedAt }).from(bookingSlots).orderBy(bookingSlots.id),
    holds: await db.select({ id: bookingHolds.conversationId, slotId: bookingHolds.slotId, expiresAt: bookingHolds.expiresAt }).from(bookingHolds).orderBy(bookingHolds.conversationId),
    files: await db.select({ id: files.id, itemId: files.itemId, draftKey: files.draftKey, deletedAt: files.deletedAt }).from(files).orderBy(files.id),
    templates: await db.select().from(messageTemplates).orderBy(messageTemplates.id),
  };
  return JSON.parse(JSON.stringify(tables)) as Record<string, Array<Record<string, unknown>>>;
}

/** A message template in each organisation; its name is a secret of its side. */
export async function addTemplates(services: Services, world: World): Promise<void> {
  for (const [label, side] of [['A', world.a], ['B', world.b]] as const) {
    const name = `Organisation ${label}’s private template`;
    const template = await insertTemplate(services.db, {
      organisationId: side.conversation.organisation.id,
      name,
      body: 'Dear ((patient_first_name)), please call ((organisation_phone)).',
      createdByStaffId: side.staff.id,
      now: services.now(),
    });
    side.templateId = template.id;
    side.secrets.push(name);
  }
}

/** The whole snapshot as one string: equal strings mean nothing was added, changed or removed. */
export async function snapshot(services: Services): Promise<string> {
  return JSON.stringify(await snapshotRows(services));
}

/** Rows may have been added (a valid reply, a new message), but none that existed before changed or went. */
export function assertUnchangedRows(
  before: Record<string, Array<Record<string, unknown>>>,
  after: Record<string, Array<Record<string, unknown>>>,
  what: string,
): void {
  for (const [table, rows] of Object.entries(before)) {
    const now = new Map((after[table] ?? []).map((r) => [String(r.id), JSON.stringify(r)]));
    for (const row of rows) {
      const current = now.get(String(row.id));
      if (current !== JSON.stringify(row)) {
        throw new Error(`${what}: ${table} row ${String(row.id)} ${current ? `changed to ${current}` : 'was removed'} (was ${JSON.stringify(row)})`);
      }
    }
  }
}

export async function auditCount(services: Services, type: string): Promise<number> {
  return (await services.db.select({ id: auditEvents.id }).from(auditEvents).where(eq(auditEvents.type, type))).length;
}

let ipCounter = 0;
/**
 * A new client address for every request: the link look-up and sign-in limits count per address, and
 * the security suite makes more requests than one address may (the limits have their own tests).
 */
export function nextIp(): string {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

export type CsrfMode = 'valid' | 'none' | 'wrong' | 'foreign';

export interface SendOptions {
  jar?: CookieJar;
  form?: Record<string, string>;
  json?: unknown;
  headers?: Record<string, string>;
  /** For forms: a token matching the jar's CSRF cookie (default), none, a made-up one, or another browser's. */
  csrf?: CsrfMode;
  /** The other browser, for csrf: 'foreign'. */
  foreignJar?: CookieJar;
  remoteAddress?: string;
}

/** A CSRF token for the jar's own CSRF cookie, from a page with a form (the staff sign-in page). */
export async function csrfTokenOf(app: FastifyInstance, jar: CookieJar): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/staff/sign-in', headers: { cookie: jar.header() }, remoteAddress: nextIp() });
  jar.store(res.headers['set-cookie']);
  const m = /name="_csrf" value="([^"]+)"/.exec(res.body);
  if (!m) throw new Error('no _csrf field on /staff/sign-in');
  return m[1]!;
}

export async function send(app: FastifyInstance, method: string, url: string, opts: SendOptions = {}) {
  const jar = opts.jar ?? new CookieJar();
  const headers: Record<string, string> = { ...opts.headers };
  if (jar.header()) headers.cookie = jar.header();
  let payload: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(opts.json);
  } else if (method !== 'GET' && method !== 'HEAD') {
    const fields = { ...opts.form };
    const mode = opts.csrf ?? 'valid';
    if (mode === 'valid') fields._csrf = await csrfTokenOf(app, jar);
    if (mode === 'wrong') fields._csrf = 'not-a-real-token-' + 'x'.repeat(30);
    if (mode === 'foreign') fields._csrf = await csrfTokenOf(app, opts.foreignJar ?? new CookieJar());
    // Staff send forms carry a one-time id (a fresh one, as a page just shown would); others ignore it.
    if (url.startsWith('/staff/') && !('submissionId' in fields)) fields.submissionId = newSubmissionId();
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers.cookie = jar.header();
    payload = new URLSearchParams(fields).toString();
  }
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers,
    ...(payload !== undefined ? { payload } : {}),
    remoteAddress: opts.remoteAddress ?? nextIp(),
  });
  jar.store(res.headers['set-cookie']);
  return res;
}
