// Typed test factories (after medplum's createTestProject): each returns real rows made through the
// same service code the app uses.
import { and, desc, eq } from 'drizzle-orm';
import type { Services } from '../../src/services.ts';
import { createOrganisation, type Organisation } from '../../src/features/organisations/organisations.service.ts';
import { createStaffUser } from '../../src/features/staff/staff-accounts.service.ts';
import type { StaffRole } from '../../src/features/staff/permissions.ts';
import { upsertPatient, type Patient } from '../../src/features/patients/patients.service.ts';
import { sendQuestionnaire } from '../../src/features/questionnaires/questionnaire-sending.service.ts';
import { sendMessage, type ReplyMode } from '../../src/features/messages/messages.service.ts';
import { devPhoneTexts, outboundSms } from '../../src/platform/db/schema.ts';

let seq = 0;
const next = () => ++seq;

export async function createTestOrganisation(services: Services, overrides: Partial<{ name: string; odsCode: string; contactPhone: string }> = {}): Promise<Organisation> {
  const n = next();
  return createOrganisation(services.db, {
    name: overrides.name ?? `Test Surgery ${n}`,
    odsCode: overrides.odsCode ?? `T${String(process.pid % 1000).padStart(3, '0')}${String(n % 100).padStart(2, '0')}`,
    contactPhone: overrides.contactPhone ?? '01234 567890',
  });
}

export const TEST_STAFF_PASSWORD = 'correct horse battery staple';

export async function createTestStaff(
  services: Services,
  organisationId: string,
  overrides: Partial<{ email: string; name: string; password: string; role: StaffRole }> = {},
) {
  const n = next();
  const password = overrides.password ?? TEST_STAFF_PASSWORD;
  const user = await createStaffUser(services.db, {
    organisationId,
    email: overrides.email ?? `staff${n}.${process.pid}@example.nhs.uk`,
    name: overrides.name ?? `Staff Member ${n}`,
    password,
    role: overrides.role ?? 'admin',
  });
  return { ...user, password };
}

export const TEST_PATIENT = {
  nhsNumber: '9990000018',
  givenName: 'Priya',
  familyName: 'Shah',
  dateOfBirth: '1984-03-12',
  mobileNumber: '+447700900001',
};

export async function createTestPatient(services: Services, organisationId: string, overrides: Partial<typeof TEST_PATIENT> = {}): Promise<Patient> {
  const p = { ...TEST_PATIENT, ...overrides };
  const { patient } = await upsertPatient(services.db, organisationId, p.nhsNumber, p);
  return patient;
}

export interface TestConversation {
  organisation: Organisation;
  patient: Patient;
  conversationId: string;
  linkId: string;
  /** The token from the text message, read back from the outbox as a patient would read their phone. */
  token: string;
  staffId: string;
}

/** An organisation, a staff member, a patient and a message sent to them, ready to open. */
export async function createTestConversation(
  services: Services,
  opts: { replyMode?: ReplyMode; body?: string; organisation?: Organisation; patient?: Partial<typeof TEST_PATIENT> } = {},
): Promise<TestConversation> {
  const organisation = opts.organisation ?? (await createTestOrganisation(services));
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id, opts.patient);
  const sent = await sendMessage(services, {
    organisationId: organisation.id,
    patient,
    body: opts.body ?? 'Your blood test results are normal. No action is needed.',
    replyMode: opts.replyMode ?? 'once',
    sentBy: { staffId: staff.id },
  });
  return { organisation, patient, conversationId: sent.conversationId, linkId: sent.linkId, token: await latestLinkToken(services, sent.conversationId), staffId: staff.id };
}

export const CATALOGUE_URL = (id: string) => `https://dovecote.example/fhir/Questionnaire/${id}`;

/** As createTestConversation, with a questionnaire sent instead of a message (a catalogue id, or a url and version). */
export async function createTestQuestionnaireConversation(
  services: Services,
  opts: { questionnaire?: string | { url: string; version: string }; closesAfterDays?: number; organisation?: Organisation; patient?: Partial<typeof TEST_PATIENT> } = {},
): Promise<TestConversation> {
  const organisation = opts.organisation ?? (await createTestOrganisation(services));
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id, opts.patient);
  const chosen = typeof opts.questionnaire === 'object' ? opts.questionnaire : { url: CATALOGUE_URL(opts.questionnaire ?? 'phq-9'), version: '1.0.0' };
  const sent = await sendQuestionnaire(services, {
    organisationId: organisation.id,
    patient,
    ...chosen,
    ...(opts.closesAfterDays !== undefined && { closesAfterDays: opts.closesAfterDays }),
    sentBy: { staffId: staff.id },
  });
  return { organisation, patient, conversationId: sent.conversationId, linkId: sent.linkId, token: await latestLinkToken(services, sent.conversationId), staffId: staff.id };
}

/**
 * What a text said on the patient's phone: once handed to the provider the outbox no longer holds the
 * link or the code, but the development transport's phone (/dev/phone) does. Undefined for a text the
 * development transport did not send (another transport: read what its stand-in received).
 */
async function textOnThePhone(services: Services, outboundSmsId: string): Promise<string | undefined> {
  const [text] = await services.db.select({ body: devPhoneTexts.body }).from(devPhoneTexts).where(eq(devPhoneTexts.outboundSmsId, outboundSmsId));
  return text?.body;
}

/** The newest link texted for a conversation: from the outbox while queued, then from the phone. */
export async function latestLinkToken(services: Services, conversationId: string): Promise<string> {
  const [row] = await services.db
    .select({ id: outboundSms.id, personalisation: outboundSms.personalisation })
    .from(outboundSms)
    .where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, 'message_link')))
    .orderBy(desc(outboundSms.createdAt))
    .limit(1);
  if (!row) throw new Error('no message_link text in the outbox');
  const link = row.personalisation.link ?? /https?:\/\/\S+/.exec((await textOnThePhone(services, row.id)) ?? '')?.[0];
  if (!link) throw new Error('the message_link text was sent, and not by the development transport: read the link where it went');
  return new URL(link).pathname.slice(1);
}

/** The newest security code texted for a link: from the outbox while queued, then from the phone. */
export async function latestSecurityCode(services: Services, linkId: string): Promise<string> {
  const [row] = await services.db
    .select({ id: outboundSms.id, personalisation: outboundSms.personalisation })
    .from(outboundSms)
    .where(and(eq(outboundSms.linkId, linkId), eq(outboundSms.kind, 'security_code')))
    .orderBy(desc(outboundSms.createdAt))
    .limit(1);
  if (!row) throw new Error('no security_code text in the outbox');
  const code = row.personalisation.code ?? /^(\d{6}) is your security code/.exec((await textOnThePhone(services, row.id)) ?? '')?.[1];
  if (!code) throw new Error('the security_code text was sent, and not by the development transport: read the code where it went');
  return code;
}

/** Cookie jar for app.inject: collects Set-Cookie and sends them back. */
export class CookieJar {
  private cookies = new Map<string, string>();
  store(setCookie: string | string[] | undefined): void {
    for (const c of ([] as string[]).concat(setCookie ?? [])) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (/max-age=0|expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
  clone(): CookieJar {
    const j = new CookieJar();
    for (const [k, v] of this.cookies) j.cookies.set(k, v);
    return j;
  }
}

/** The CSRF token of the first form on a page. */
export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no _csrf field on the page');
  return m[1]!;
}
