// The whole relational schema. drizzle-kit generates migrations from this file; the same SQL runs on
// PGlite (PostgreSQL 18) and on the PostgreSQL 15 servers, so keep to features both have.
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const tz = (name: string) => timestamp(name, { withTimezone: true });

export const organisations = pgTable('organisations', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  odsCode: text('ods_code').notNull().unique(),
  contactPhone: text('contact_phone').notNull(),
  createdAt: createdAt(),
});

export const staffUsers = pgTable('staff_users', {
  id: uuid('id').primaryKey().defaultRandom(),
  organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
  email: text('email').notNull().unique(),
  name: text('name').notNull(),
  passwordHash: text('password_hash').notNull(),
  // Unused since sign-in moved to stepped delays kept in rate_limit_hits under a hash of the email
  // (staff-auth.service.ts); kept for one release so instances of the previous version, which still
  // select them, keep working during an upgrade. Drop them in a later migration.
  failedSignIns: integer('failed_sign_ins').notNull().default(0),
  signInLockedUntil: tz('sign_in_locked_until'),
  createdAt: createdAt(),
  // What the account may do (features/staff/permissions.ts). Accounts from before roles existed were
  // their organisation's only accounts, so they become admins.
  role: text('role', { enum: ['admin', 'clinician', 'receptionist'] }).notNull().default('admin'),
  // A deactivated account cannot sign in and its sessions end at once; the row stays for the audit trail
  // and as the author of what it sent.
  deactivatedAt: tz('deactivated_at'),
  // A temporary password an admin set: the next sign-in must choose a new one before any staff page.
  mustChangePassword: boolean('must_change_password').notNull().default(false),
  // The TOTP key (RFC 6238), sealed with the data encryption key (never stored in the clear), and the
  // newest time step accepted: a code is refused unless its step is later, so a code seen over a
  // shoulder or replayed from a proxy log cannot be used again.
  totpSecretSealed: text('totp_secret_sealed'),
  totpEnrolledAt: tz('totp_enrolled_at'),
  totpLastStep: bigint('totp_last_step', { mode: 'number' }),
});

// Single-use recovery codes for a lost authenticator: 10 shown once at enrolment, kept only hashed.
export const staffRecoveryCodes = pgTable(
  'staff_recovery_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    staffUserId: uuid('staff_user_id').notNull().references(() => staffUsers.id),
    codeHash: text('code_hash').notNull(),
    createdAt: createdAt(),
    usedAt: tz('used_at'),
  },
  (t) => [index('staff_recovery_codes_user_idx').on(t.staffUserId)],
);

// One-time set-up links for new accounts (and for an admin's reset): the token is shown once, only its
// SHA-256 is kept; it expires and is used once.
export const staffSetupTokens = pgTable(
  'staff_setup_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    staffUserId: uuid('staff_user_id').notNull().references(() => staffUsers.id),
    createdByStaffId: uuid('created_by_staff_id').references(() => staffUsers.id),
    createdAt: createdAt(),
    expiresAt: tz('expires_at').notNull(),
    usedAt: tz('used_at'),
  },
  (t) => [index('staff_setup_tokens_user_idx').on(t.staffUserId)],
);

export const staffSessions = pgTable(
  'staff_sessions',
  {
    // SHA-256 of the cookie token: a database leak does not hand out live sessions.
    tokenHash: text('token_hash').primaryKey(),
    staffUserId: uuid('staff_user_id').notNull().references(() => staffUsers.id),
    createdAt: createdAt(),
    lastSeenAt: tz('last_seen_at').notNull().defaultNow(),
    expiresAt: tz('expires_at').notNull(),
    // How far sign-in has got: only 'signed_in' reaches staff pages. 'second_factor' has passed the
    // password and must give a code; 'enrol' must set up an authenticator first; 'change_password' must
    // replace a temporary password. Sessions from before this column were fully signed in.
    stage: text('stage', { enum: ['second_factor', 'enrol', 'change_password', 'signed_in'] }).notNull(),
  },
  (t) => [index('staff_sessions_user_idx').on(t.staffUserId)],
);

export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
  name: text('name').notNull(),
  // Public part of the key, used to find the row; the secret part is only stored hashed.
  prefix: text('prefix').notNull().unique(),
  secretHash: text('secret_hash').notNull(),
  createdAt: createdAt(),
  lastUsedAt: tz('last_used_at'),
  revokedAt: tz('revoked_at'),
});

// The API's Idempotency-Key header (features/api/api-idempotency.service.ts): one row per key and API
// key, so two organisations never see each other's responses. Kept 24 hours (maintenance deletes older).
export const apiIdempotencyKeys = pgTable(
  'api_idempotency_keys',
  {
    apiKeyId: uuid('api_key_id').notNull().references(() => apiKeys.id),
    idempotencyKey: text('idempotency_key').notNull(),
    // sha256 of method, route and canonical body: the same key with another request is refused.
    requestFingerprint: text('request_fingerprint').notNull(),
    status: text('status', { enum: ['in_progress', 'done'] }).notNull(),
    responseStatus: integer('response_status'),
    // Only Location and Content-Type: what a replay needs, nothing else.
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>(),
    responseBody: text('response_body'),
    createdAt: createdAt(),
    // While in progress: after this the first request is taken to have died, and another may take over.
    lockedUntil: tz('locked_until').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.apiKeyId, t.idempotencyKey] }),
    index('api_idempotency_keys_created_idx').on(t.createdAt),
    check('api_idempotency_keys_status_check', sql`${t.status} IN ('in_progress', 'done')`),
  ],
);

export const patients = pgTable(
  'patients',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    nhsNumber: text('nhs_number').notNull(),
    givenName: text('given_name').notNull(),
    familyName: text('family_name').notNull(),
    dateOfBirth: date('date_of_birth', { mode: 'string' }).notNull(),
    mobileE164: text('mobile_e164').notNull(),
    createdAt: createdAt(),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('patients_org_nhs_idx').on(t.organisationId, t.nhsNumber),
    // The patient portal finds one person's records across every organisation.
    index('patients_nhs_idx').on(t.nhsNumber),
    index('patients_org_name_idx').on(t.organisationId, t.familyName, t.dateOfBirth),
  ],
);

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    patientId: uuid('patient_id').notNull().references(() => patients.id),
    // Which item kind the link opens (features/conversations/item-kinds.ts), and that kind's settings
    // (a message's reply mode, say), checked by the kind's own schema whenever they are read.
    kind: text('kind').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    createdByStaffId: uuid('created_by_staff_id').references(() => staffUsers.id),
    createdByApiKeyId: uuid('created_by_api_key_id').references(() => apiKeys.id),
    createdAt: createdAt(),
    // Set when something the patient sent needs a clinician soon (a questionnaire's urgent flag, e.g.
    // PHQ-9 question 9), or by staff: the inbox lists these first.
    urgentSince: tz('urgent_since'),
    // Who in the practice is dealing with it (null: unassigned), and when it was marked done; a new item
    // from the patient clears done_at, so nothing the patient sends is left in "Done".
    assignedStaffId: uuid('assigned_staff_id').references(() => staffUsers.id),
    doneAt: tz('done_at'),
  },
  (t) => [
    index('conversations_org_created_idx').on(t.organisationId, t.createdAt),
    index('conversations_patient_idx').on(t.patientId),
    // The maintenance job's reminder search: questionnaires sent in the last weeks, across organisations.
    index('conversations_questionnaire_created_idx').on(t.createdAt).where(sql`kind = 'questionnaire'`),
    // The inbox's order: urgent first, then newest (an index scan, not a sort of every conversation).
    index('conversations_org_inbox_idx').on(t.organisationId, sql`(urgent_since IS NULL)`, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('conversations_org_assigned_idx').on(t.organisationId, t.assignedStaffId),
  ],
);

// Unread, per staff member: the newest item each one has seen in each conversation (seq, not a clock).
export const conversationReads = pgTable(
  'conversation_reads',
  {
    conversationId: uuid('conversation_id').notNull().references(() => conversations.id),
    staffUserId: uuid('staff_user_id').notNull().references(() => staffUsers.id),
    lastReadSeq: bigint('last_read_seq', { mode: 'number' }).notNull(),
    readAt: tz('read_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.staffUserId] })],
);

// Who has a conversation open now ("Also viewing: Jo Bloggs"): a row per viewer, refreshed while the
// page is open; rows older than a couple of minutes mean nothing and are deleted by maintenance.
export const conversationViewers = pgTable(
  'conversation_viewers',
  {
    conversationId: uuid('conversation_id').notNull().references(() => conversations.id),
    staffUserId: uuid('staff_user_id').notNull().references(() => staffUsers.id),
    seenAt: tz('seen_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.staffUserId] })],
);

// An organisation's message templates (admins manage them); placeholders are filled when staff pick one.
export const messageTemplates = pgTable(
  'message_templates',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    name: text('name').notNull(),
    body: text('body').notNull(),
    createdByStaffId: uuid('created_by_staff_id').references(() => staffUsers.id),
    createdAt: createdAt(),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('message_templates_org_name_idx').on(t.organisationId, t.name)],
);

// One-time submission ids carried by every staff send form: the first post with an id does the send and
// records where it led; a double tap, a retry or Back-and-resubmit with the same id is sent there too,
// and nothing is sent twice.
export const staffSubmissions = pgTable(
  'staff_submissions',
  {
    staffUserId: uuid('staff_user_id').notNull().references(() => staffUsers.id),
    submissionId: text('submission_id').notNull(),
    // Where the first post led (the conversation page); null while that post is still being handled.
    resultUrl: text('result_url'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.staffUserId, t.submissionId] }), index('staff_submissions_created_idx').on(t.createdAt)],
);

export const conversationItems = pgTable(
  'conversation_items',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // Total order of items, also across items written in the same millisecond.
    seq: bigserial('seq', { mode: 'number' }).notNull().unique(),
    conversationId: uuid('conversation_id').notNull().references(() => conversations.id),
    // The item's type within its kind ('staff_message', 'patient_reply', …).
    kind: text('kind').notNull(),
    body: text('body').notNull(),
    // What the item's kind stores beyond the text (answers, a booking, a file), typed by the kind.
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    authorStaffId: uuid('author_staff_id').references(() => staffUsers.id),
    // Sent by the patient's form once per rendering: the same form posted twice (a double click, Back
    // and send again) finds its item already there instead of storing it twice.
    clientKey: text('client_key'),
    createdAt: createdAt(),
  },
  (t) => [
    index('conversation_items_conversation_idx').on(t.conversationId, t.seq),
    uniqueIndex('conversation_items_client_key_idx').on(t.conversationId, t.clientKey),
  ],
);

export const links = pgTable(
  'links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id').notNull().references(() => conversations.id),
    // SHA-256 (hex) of the token in the URL; the token itself is never stored.
    tokenHash: text('token_hash').notNull().unique(),
    // The number the link was texted to: security codes go here, and nowhere else.
    phoneE164: text('phone_e164').notNull(),
    expiresAt: tz('expires_at').notNull(),
    revokedAt: tz('revoked_at'),
    trustedDeviceHash: text('trusted_device_hash'),
    trustedAt: tz('trusted_at'),
    // The device that was trusted before the current one, so that browser can be told why it now
    // needs a security code (the link was opened on another device), rather than be treated as new.
    previousTrustedDeviceHash: text('previous_trusted_device_hash'),
    dobFailuresInARow: integer('dob_failures_in_a_row').notNull().default(0),
    dobFailuresTotal: integer('dob_failures_total').notNull().default(0),
    lockedUntil: tz('locked_until'),
    // Wrong security codes since the last right one, over every code sent for the link: reaching the
    // limit (three codes' worth of tries) locks the link for good, like the total of wrong dates of birth.
    codeFailuresInARow: integer('code_failures_in_a_row').notNull().default(0),
    // Set when the total of wrong dates of birth or the run of wrong security codes is reached (the
    // counters say which): only staff re-sending unlocks.
    lockedPermanentlyAt: tz('locked_permanently_at'),
    createdAt: createdAt(),
  },
  (t) => [index('links_conversation_idx').on(t.conversationId)],
);

export const securityCodes = pgTable(
  'security_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    linkId: uuid('link_id').notNull().references(() => links.id),
    // HMAC-SHA256 under the server key named by keyId (keys rotate; old ones still verify).
    codeHmac: text('code_hmac').notNull(),
    keyId: text('key_id').notNull(),
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
    expiresAt: tz('expires_at').notNull(),
    usedAt: tz('used_at'),
    // Set when a newer code is issued or too many wrong tries: only the newest live code works.
    burnedAt: tz('burned_at'),
  },
  (t) => [index('security_codes_link_created_idx').on(t.linkId, t.createdAt)],
);

export const patientSessions = pgTable(
  'patient_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    // link: opens one link (link_id set). portal: NHS login at the home page (nhs_number set, no link).
    kind: text('kind', { enum: ['link', 'portal'] }).notNull().default('link'),
    linkId: uuid('link_id').references(() => links.id),
    // Portal sessions only: the NHS number NHS login vouched for (P9), and NHS login's subject for the audit.
    nhsNumber: text('nhs_number'),
    nhsLoginSub: text('nhs_login_sub'),
    // Portal sessions only: NHS login's date of birth and family name. An organisation's record with the
    // NHS number is shown only when it has these too (features/patients/record-match.ts).
    nhsLoginBirthdate: date('nhs_login_birthdate', { mode: 'string' }),
    nhsLoginFamilyName: text('nhs_login_family_name'),
    // awaiting_code: date of birth was right on an untrusted device; verified: may open the link.
    state: text('state', { enum: ['awaiting_code', 'verified'] }).notNull(),
    createdAt: createdAt(),
    lastSeenAt: tz('last_seen_at').notNull().defaultNow(),
    expiresAt: tz('expires_at').notNull(),
  },
  (t) => [index('patient_sessions_link_idx').on(t.linkId)],
);

export const outboundSms = pgTable(
  'outbound_sms',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    conversationId: uuid('conversation_id').references(() => conversations.id),
    linkId: uuid('link_id').references(() => links.id),
    kind: text('kind', {
      enum: ['message_link', 'security_code', 'reminder', 'booking_confirmed', 'booking_reminder', 'booking_cancelled', 'booking_moved', 'staff_reply'],
    }).notNull(),
    phoneE164: text('phone_e164').notNull(),
    // Template values. Security codes and links are wiped from here once the text has been handed over.
    personalisation: jsonb('personalisation').$type<Record<string, string>>().notNull(),
    status: text('status', {
      enum: ['queued', 'sending', 'sent', 'delivered', 'temporary_failure', 'permanent_failure', 'technical_failure'],
    })
      .notNull()
      .default('queued'),
    attempts: integer('attempts').notNull().default(0),
    providerId: text('provider_id'),
    lastError: text('last_error'),
    // Set while the provider refuses our own set-up (Notify 401/403, an unknown template): not the
    // patient's failure, so the text stays queued and is tried again once the configuration is fixed.
    providerProblem: text('provider_problem', { enum: ['authentication', 'configuration'] }),
    createdAt: createdAt(),
    sentAt: tz('sent_at'),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('outbound_sms_conversation_idx').on(t.conversationId),
    index('outbound_sms_phone_kind_created_idx').on(t.phoneE164, t.kind, t.createdAt),
    index('outbound_sms_link_kind_created_idx').on(t.linkId, t.kind, t.createdAt),
    // The backlog /metrics and /health read every scrape: only the few queued rows, never the history.
    index('outbound_sms_queued_idx').on(t.createdAt).where(sql`${t.status} = 'queued'`),
  ],
);

// Texts kept by the development transport for the /dev/phone page. Never used in production.
export const devPhoneTexts = pgTable(
  'dev_phone_texts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    outboundSmsId: uuid('outbound_sms_id').notNull().unique(),
    phoneE164: text('phone_e164').notNull(),
    body: text('body').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('dev_phone_texts_phone_idx').on(t.phoneE164, t.createdAt)],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    occurredAt: tz('occurred_at').notNull().defaultNow(),
    type: text('type').notNull(),
    actorType: text('actor_type', { enum: ['patient_link', 'patient_nhs_login', 'staff', 'api_key', 'system', 'operator'] }).notNull(),
    actorId: text('actor_id'),
    organisationId: uuid('organisation_id'),
    patientId: uuid('patient_id'),
    conversationId: uuid('conversation_id'),
    linkId: uuid('link_id'),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('audit_events_conversation_idx').on(t.conversationId, t.id),
    index('audit_events_org_idx').on(t.organisationId, t.id),
    // The audit viewer: everything about one patient, and everything one staff member did.
    index('audit_events_patient_idx').on(t.patientId, t.id),
    index('audit_events_org_actor_idx').on(t.organisationId, t.actorId, t.id),
    // …including the searches that showed them (a search lists its results in details.patientIds).
    index('audit_events_searched_patients_idx').using('gin', sql`(details -> 'patientIds')`).where(sql`${t.type} = 'patient.searched'`),
    // The staff conversation page counts NHS logins that did not match the patient's record.
    index('audit_events_record_mismatch_idx').on(t.patientId).where(sql`${t.type} = 'portal.record_mismatch'`),
  ],
);

// Fixed-window counters shared by every app instance (@fastify/rate-limit store and our own limits).
export const rateLimitHits = pgTable(
  'rate_limit_hits',
  {
    key: text('key').notNull(),
    windowStart: tz('window_start').notNull(),
    hits: integer('hits').notNull().default(0),
    expiresAt: tz('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] }), index('rate_limit_hits_expires_idx').on(t.expiresAt)],
);

// The text provider's rate limit for the whole deployment (features/sms/send-budget.ts): one row per
// limit, holding the next free send slot on the database's clock. Senders claim slots with one atomic
// update, so every process keeps to one shared limit. updated_at is the database time of the last claim.
// The migration makes it UNLOGGED (see 0016_sms_send_budget.sql); drizzle-kit does not track that.
export const smsSendBudget = pgTable('sms_send_budget', {
  key: text('key').primaryKey(),
  nextSlotAt: tz('next_slot_at').notNull(),
  updatedAt: tz('updated_at').notNull(),
});

// NHS login sign-ins in flight (features/nhs-login): the state (kept hashed, the browser holds it), nonce
// and PKCE verifier between the redirect to NHS login and the callback, and where the sign-in returns to,
// sealed with a key derived from the state (a link's returnTo names its token, which must not sit here
// in the clear). Single use: the callback sets used_at atomically, so a replayed callback finds nothing
// to finish. Short-lived; old rows are deleted.
export const nhsLoginTransactions = pgTable(
  'nhs_login_transactions',
  {
    stateHash: text('state_hash').primaryKey(),
    nonce: text('nonce').notNull(),
    codeVerifier: text('code_verifier').notNull(),
    returnToSealed: text('return_to_sealed').notNull(),
    createdAt: createdAt(),
    expiresAt: tz('expires_at').notNull(),
    usedAt: tz('used_at'),
  },
  (t) => [index('nhs_login_transactions_expires_idx').on(t.expiresAt)],
);

// Organisations' own FHIR R4 Questionnaires (features/questionnaires), the resource as it was given.
// A version once stored never changes: a response must always find the exact version it answered, so
// rows are only ever inserted. The built-in catalogue is not stored; it is read from its files.
export const questionnaires = pgTable(
  'questionnaires',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    url: text('url').notNull(),
    version: text('version').notNull(),
    title: text('title'),
    resource: jsonb('resource').$type<Record<string, unknown>>().notNull(),
    createdByApiKeyId: uuid('created_by_api_key_id').references(() => apiKeys.id),
    createdByStaffId: uuid('created_by_staff_id').references(() => staffUsers.id),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('questionnaires_org_url_version_idx').on(t.organisationId, t.url, t.version)],
);

// The answers to a questionnaire conversation (features/questionnaires), one row per conversation,
// written on every Continue so a patient who closes the browser carries on where they stopped. Each
// page saves one question's answer by merging it into `answers` in one statement, so two tabs saving
// different questions never overwrite each other; `revision` counts saves, so submitting from a Check
// your answers page that another tab has since changed is refused rather than sending answers the
// patient did not see. Once `submitted_at` is set the row never changes again.
export const questionnaireResponses = pgTable(
  'questionnaire_responses',
  {
    conversationId: uuid('conversation_id').primaryKey().references(() => conversations.id),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    questionnaireUrl: text('questionnaire_url').notNull(),
    questionnaireVersion: text('questionnaire_version').notNull(),
    // The patient's own answers by linkId (answers.ts answersToJson); calculated values are never kept
    // here: they are worked out again from these whenever a response is built.
    answers: jsonb('answers').$type<Record<string, unknown>>().notNull().default({}),
    revision: integer('revision').notNull().default(0),
    startedAt: tz('started_at').notNull(),
    updatedAt: tz('updated_at').notNull(),
    submittedAt: tz('submitted_at'),
  },
  (t) => [index('questionnaire_responses_org_idx').on(t.organisationId)],
);

// Reminder texts a conversation's kind sends while it waits for the patient (a questionnaire on days 3
// and 6). The primary key is the "never twice" rule: the maintenance job inserts the row in the same
// transaction as the text it queues, so a job that runs twice, or on two instances at once, sends one.
export const conversationReminders = pgTable(
  'conversation_reminders',
  {
    conversationId: uuid('conversation_id').notNull().references(() => conversations.id),
    // Which reminder of the kind's schedule: 'day-3', 'day-6'.
    reminder: text('reminder').notNull(),
    outboundSmsId: uuid('outbound_sms_id'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.conversationId, t.reminder] })],
);

// Appointment booking (features/booking). Staff set up who sees patients (clinicians), where
// (locations), what (appointment types) and when (sessions); a session's slots are made once, when it is
// added, as rows: a slot is a UTC instant range, worked out from London wall-clock times on its own day,
// so the days the clocks change are right.
export const bookingClinicians = pgTable(
  'booking_clinicians',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    name: text('name').notNull(),
    role: text('role').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('booking_clinicians_org_idx').on(t.organisationId, t.name)],
);

export const bookingLocations = pgTable(
  'booking_locations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    name: text('name').notNull(),
    address: text('address').notNull(),
    phone: text('phone').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('booking_locations_org_idx').on(t.organisationId, t.name)],
);

export const appointmentTypes = pgTable(
  'appointment_types',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    name: text('name').notNull(),
    lengthMinutes: integer('length_minutes').notNull(),
    // 'face_to_face' | 'telephone' | 'video'
    mode: text('mode').notNull(),
    // What the patient should know before they come ("Wear a short-sleeved top"); shown before they confirm.
    patientInfo: text('patient_info').notNull().default(''),
    // Until how long before the start the patient may change or cancel it themselves.
    cancelCutoffMinutes: integer('cancel_cutoff_minutes').notNull().default(60),
    createdAt: createdAt(),
  },
  (t) => [
    index('appointment_types_org_idx').on(t.organisationId, t.name),
    check('appointment_types_length_check', sql`${t.lengthMinutes} BETWEEN 5 AND 480`),
    check('appointment_types_mode_check', sql`${t.mode} IN ('face_to_face', 'telephone', 'video')`),
    check('appointment_types_cutoff_check', sql`${t.cancelCutoffMinutes} BETWEEN 0 AND 10080`),
  ],
);

export const bookingSessions = pgTable(
  'booking_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    clinicianId: uuid('clinician_id').notNull().references(() => bookingClinicians.id),
    locationId: uuid('location_id').notNull().references(() => bookingLocations.id),
    appointmentTypeId: uuid('appointment_type_id').notNull().references(() => appointmentTypes.id),
    // London calendar dates and wall-clock times ('09:00'), as staff gave them; `weekly` repeats the
    // session every 7 days from first_date to last_date.
    firstDate: date('first_date', { mode: 'string' }).notNull(),
    lastDate: date('last_date', { mode: 'string' }).notNull(),
    weekly: boolean('weekly').notNull(),
    startTime: text('start_time').notNull(),
    endTime: text('end_time').notNull(),
    createdByStaffId: uuid('created_by_staff_id').references(() => staffUsers.id),
    createdAt: createdAt(),
  },
  (t) => [index('booking_sessions_org_idx').on(t.organisationId, t.firstDate)],
);

export const bookingSlots = pgTable(
  'booking_slots',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    sessionId: uuid('session_id').notNull().references(() => bookingSessions.id),
    clinicianId: uuid('clinician_id').notNull().references(() => bookingClinicians.id),
    locationId: uuid('location_id').notNull().references(() => bookingLocations.id),
    appointmentTypeId: uuid('appointment_type_id').notNull().references(() => appointmentTypes.id),
    startsAt: tz('starts_at').notNull(),
    endsAt: tz('ends_at').notNull(),
    // Staff took it out of use (a meeting, leave): never offered, never booked.
    blockedAt: tz('blocked_at'),
    blockedByStaffId: uuid('blocked_by_staff_id').references(() => staffUsers.id),
    createdAt: createdAt(),
  },
  (t) => [
    index('booking_slots_type_starts_idx').on(t.organisationId, t.appointmentTypeId, t.startsAt),
    index('booking_slots_clinician_starts_idx').on(t.clinicianId, t.startsAt),
    index('booking_slots_location_starts_idx').on(t.locationId, t.startsAt),
    check('booking_slots_range_check', sql`${t.endsAt} > ${t.startsAt}`),
  ],
);

// A time held for one invitation while the patient confirms. The primary key is "each invitation holds
// at most one time"; the unique slot is "a held time is held by one invitation". A hold past expires_at
// holds nothing: whoever takes the slot next deletes it first. `taken` counts the holds an invitation
// has taken, so choosing times again and again cannot keep a time away from others for ever.
export const bookingHolds = pgTable(
  'booking_holds',
  {
    conversationId: uuid('conversation_id').primaryKey().references(() => conversations.id),
    slotId: uuid('slot_id').references(() => bookingSlots.id),
    expiresAt: tz('expires_at').notNull(),
    taken: integer('taken').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('booking_holds_slot_idx').on(t.slotId)],
);

// Bookings. The guarantee "no double booking" is held here by PostgreSQL, not by a check before the
// insert: a slot has at most one live booking (bookings_slot_live_idx), an invitation at most one
// (conversation unique index), and a clinician's live bookings never overlap, even across two sessions
// (the exclusion constraint bookings_clinician_no_overlap, added in the migration: drizzle cannot say
// it). A change of time is a new row with the old one cancelled in the same transaction; `sequence`
// carries on from the old row so calendar files update one event (RFC 5545 SEQUENCE).
export const bookings = pgTable(
  'bookings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    conversationId: uuid('conversation_id').notNull().references(() => conversations.id),
    slotId: uuid('slot_id').notNull().references(() => bookingSlots.id),
    clinicianId: uuid('clinician_id').notNull().references(() => bookingClinicians.id),
    startsAt: tz('starts_at').notNull(),
    endsAt: tz('ends_at').notNull(),
    sequence: integer('sequence').notNull().default(0),
    // 'patient' | 'staff'
    bookedBy: text('booked_by').notNull(),
    bookedByStaffId: uuid('booked_by_staff_id').references(() => staffUsers.id),
    bookedAt: tz('booked_at').notNull(),
    cancelledAt: tz('cancelled_at'),
    // 'patient' | 'staff' | 'changed' (replaced by another time)
    cancelledBy: text('cancelled_by'),
    cancelledByStaffId: uuid('cancelled_by_staff_id').references(() => staffUsers.id),
    cancelReason: text('cancel_reason'),
    reminderSentAt: tz('reminder_sent_at'),
  },
  (t) => [
    uniqueIndex('bookings_slot_live_idx').on(t.slotId).where(sql`cancelled_at IS NULL`),
    uniqueIndex('bookings_conversation_live_idx').on(t.conversationId).where(sql`cancelled_at IS NULL`),
    index('bookings_conversation_idx').on(t.conversationId, t.bookedAt),
    index('bookings_org_starts_idx').on(t.organisationId, t.startsAt),
    // The reminder search: live bookings starting soon.
    index('bookings_live_starts_idx').on(t.startsAt).where(sql`cancelled_at IS NULL AND reminder_sent_at IS NULL`),
    check('bookings_range_check', sql`${t.endsAt} > ${t.startsAt}`),
  ],
);

// Files: documents staff send and attachments patients add to a reply (issue 13). The bytes are in the
// file store (platform/files), encrypted by Dovecote under a data key of their own; this row holds that
// key wrapped by a configured key, so neither the store nor this table alone reveals a file. The row
// outlives the bytes: once deleted from the store (a document past its time), `deleted_at` is set and
// the record that it existed stays.
export const files = pgTable(
  'files',
  {
    id: uuid('id').primaryKey(),
    organisationId: uuid('organisation_id').notNull().references(() => organisations.id),
    // 'document' (staff → patient) | 'attachment' (patient → staff)
    purpose: text('purpose').notNull(),
    // Null only for a document whose send has not finished; its conversation (and, once sent with a
    // reply, its item) otherwise.
    conversationId: uuid('conversation_id').references(() => conversations.id),
    itemId: uuid('item_id').references(() => conversationItems.id),
    // An attachment added to a reply not yet sent: the reply form's one-time key, so the files shown
    // back on that form are the ones the reply takes.
    draftKey: text('draft_key'),
    uploadedByStaffId: uuid('uploaded_by_staff_id').references(() => staffUsers.id),
    // Cleaned (content-check.ts): shown and offered as the download name, never used as a path.
    fileName: text('file_name').notNull(),
    // From the bytes, never from the browser: 'application/pdf' | 'image/jpeg' | 'image/png'.
    mediaType: text('media_type').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    sha256: text('sha256').notNull(),
    storageKey: text('storage_key').notNull().unique(),
    encryptionKeyId: text('encryption_key_id').notNull(),
    wrappedKey: text('wrapped_key').notNull(),
    // 'clean' (a scanner said so) | 'unscanned' (FILE_SCANNER=none, development only)
    scanStatus: text('scan_status').notNull(),
    scanEngine: text('scan_engine').notNull(),
    createdAt: createdAt(),
    // A document can be opened until then; the maintenance job deletes its bytes after.
    availableUntil: tz('available_until'),
    deletedAt: tz('deleted_at'),
  },
  (t) => [
    index('files_conversation_idx').on(t.conversationId, t.createdAt),
    index('files_item_idx').on(t.itemId),
    index('files_draft_idx').on(t.conversationId, t.draftKey).where(sql`draft_key IS NOT NULL`),
    // The maintenance job's searches: documents past their time, drafts and unfinished sends left behind.
    index('files_available_until_idx').on(t.availableUntil).where(sql`deleted_at IS NULL AND available_until IS NOT NULL`),
    index('files_unattached_idx').on(t.createdAt).where(sql`deleted_at IS NULL AND item_id IS NULL`),
    check('files_purpose_check', sql`${t.purpose} IN ('document', 'attachment')`),
    check('files_media_type_check', sql`${t.mediaType} IN ('application/pdf', 'image/jpeg', 'image/png')`),
    check('files_scan_status_check', sql`${t.scanStatus} IN ('clean', 'unscanned')`),
  ],
);
