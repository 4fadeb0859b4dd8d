// The shapes of the integrators' JSON API, defined once: the routes validate with these zod schemas and
// the OpenAPI description at /api/openapi.json is generated from the very same objects
// (z.toJSONSchema), so the documentation cannot drift from what the API accepts.
import { z } from 'zod';
import { nhsNumberSchema, patientDetails } from '../patients/patients.service.ts';
import { MESSAGE_BODY_MAX, messageBodySchema, replyModes } from '../messages/messages.service.ts';
import { CLOSES_AFTER_DAYS_MAX } from '../questionnaires/questionnaire.kind.ts';
import { isCalendarDate } from '../booking/booking-times.ts';
import { WINDOW_MAX_WEEKS } from '../booking/booking-invitations.service.ts';
import { documentNoteSchema, documentTitleSchema } from '../documents/documents.service.ts';
import { DOCUMENT_NOTE_MAX, DOCUMENT_TITLE_MAX } from '../documents/document-items.ts';

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001F\u007F]*$/;

// ---- Requests ---------------------------------------------------------------------------------

export const patientPathParams = z.strictObject({ nhsNumber: nhsNumberSchema });

/** PUT /api/v1/patients/{nhsNumber}: the patient's details; unknown fields are refused. */
export const patientPutBody = patientDetails.strict().meta({
  description:
    'The patient\'s details. `dateOfBirth` is YYYY-MM-DD and in the past; `mobileNumber` is a UK mobile number in any usual form (07700 900123, +44 7700 900123).',
});

/** POST /api/v1/messages */
export const messageCreateBody = z
  .strictObject({
    nhsNumber: nhsNumberSchema.meta({ description: '10-digit NHS number of a patient of your organisation (spaces allowed).' }),
    body: messageBodySchema.meta({
      description: `The message, 1 to ${MESSAGE_BODY_MAX.toLocaleString('en-GB')} characters. It is shown only after the patient opens the link; the text message carries only your organisation's name and the link.`,
    }),
    replyMode: z
      .enum(replyModes, "Choose the reply mode: 'none', 'once' or 'conversation'")
      .meta({ description: 'none: read only; once: one reply; conversation: replies until the link expires.' }),
  });

export const messagePathParams = z.strictObject({ id: z.uuid('Message not found') });

/**
 * POST /api/v1/questionnaires: a FHIR R4 Questionnaire. Only its outline is described here; the body
 * is checked in full by the questionnaire engine (features/questionnaires/definition.ts), which names
 * each problem by linkId.
 */
export const questionnaireCreateBody = z
  .looseObject({
    resourceType: z.literal('Questionnaire'),
    url: z.string().meta({ description: 'Canonical URL: with version, what each response says it answered.' }),
    version: z.string().meta({ description: 'A version once added never changes: send changes as a new version.' }),
    status: z.enum(['draft', 'active', 'retired', 'unknown']),
    title: z.string().optional(),
    item: z.array(z.looseObject({ linkId: z.string(), type: z.string() })),
  })
  .meta({
    description:
      'A FHIR R4 Questionnaire resource (JSON), as `application/json` or `application/fhir+json`, at most 1 MB. See docs/questionnaires.md for the item types, extensions and hints that are supported; anything else refuses the questionnaire.',
  });

export const questionnairePathParams = z.strictObject({ id: z.uuid('Questionnaire not found') });

/**
 * POST /api/v1/questionnaire-requests: send one exact version of a questionnaire to a patient. Strict
 * JSON types: unlike the staff form, a number of days sent as a string is refused, not converted.
 */
export const questionnaireRequestCreateBody = z.strictObject({
  nhsNumber: nhsNumberSchema.meta({ description: '10-digit NHS number of a patient of your organisation (spaces allowed).' }),
  questionnaire: z
    .strictObject(
      {
        url: z.string("Enter the questionnaire's url").min(1, "Enter the questionnaire's url").max(2000, "The questionnaire's url must be 2,000 characters or fewer")
          // PostgreSQL text cannot hold NUL (a 500), and no canonical url has control characters.
          .regex(NO_CONTROL_CHARACTERS, "The questionnaire's url must not contain control characters"),
        version: z.string("Enter the questionnaire's version").min(1, "Enter the questionnaire's version").max(200, "The questionnaire's version must be 200 characters or fewer")
          .regex(NO_CONTROL_CHARACTERS, "The questionnaire's version must not contain control characters"),
      },
      'Choose the questionnaire: an object with its url and version, as GET /api/v1/questionnaires lists them',
    )
    .meta({ description: 'Which questionnaire, exactly: a url and version from GET /api/v1/questionnaires (the built-in catalogue or your own).' }),
  closesAfterDays: z
    .int('Enter the number of days as a whole number, like 7')
    .min(1, 'The questionnaire must stay open for at least 1 day')
    .max(CLOSES_AFTER_DAYS_MAX, `The questionnaire can stay open for ${CLOSES_AFTER_DAYS_MAX} days at most`)
    .optional()
    .meta({ description: `How many days the link opens the questionnaire, 1 to ${CLOSES_AFTER_DAYS_MAX}. Without it, the service's default (7 days unless the operators set another).` }),
});

export const questionnaireRequestPathParams = z.strictObject({ id: z.uuid('Questionnaire request not found') });

/** The most a booking query may cover: the same 12 weeks an invitation's window may span. */
export const BOOKING_QUERY_MAX_WEEKS = WINDOW_MAX_WEEKS;

/** A London calendar date, YYYY-MM-DD, that exists (not 2026-02-30). */
const calendarDate = (label: string) =>
  z
    .string(`Enter the ${label} as YYYY-MM-DD`)
    .regex(/^\d{4}-\d{2}-\d{2}$/, `Enter the ${label} as YYYY-MM-DD, like 2026-12-03`)
    .refine(isCalendarDate, `The ${label} must be a real date`)
    .meta({ format: 'date' });

const appointmentTypeIdSchema = z
  .uuid('Enter the id of one of your appointment types, from GET /api/v1/appointment-types')
  .meta({ description: 'One of your appointment types, from GET /api/v1/appointment-types.' });

/**
 * A query's dates, both London calendar dates and both included: `to` on or after `from`, at most 12
 * weeks in all. Checked after each field, so a wrong field is named before the range is judged.
 */
function withDateRange<S extends z.ZodType<{ from: string; to: string }>>(query: S): S {
  return query.superRefine((q, ctx) => {
    if (q.to < q.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'The to date must be the same as or after the from date' });
    else if ((Date.parse(`${q.to}T00:00:00Z`) - Date.parse(`${q.from}T00:00:00Z`)) / 86_400_000 >= BOOKING_QUERY_MAX_WEEKS * 7) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: `The to date must be within ${BOOKING_QUERY_MAX_WEEKS} weeks of the from date` });
    }
  });
}

/** GET /api/v1/booking-slots: query parameters (unknown ones are refused, as body fields are). */
export const bookingSlotsQuery = withDateRange(
  z.strictObject({
    appointmentTypeId: appointmentTypeIdSchema,
    from: calendarDate('from date'),
    to: calendarDate('to date'),
    clinicianId: z.uuid('Enter the id of one of your clinicians, from GET /api/v1/appointment-types').optional(),
  }),
);

/** GET /api/v1/bookings: query parameters. */
export const bookingsQuery = withDateRange(
  z.strictObject({
    from: calendarDate('from date'),
    to: calendarDate('to date'),
    includeCancelled: z
      .enum(['true', 'false'], "includeCancelled must be 'true' or 'false'")
      .optional()
      .transform((v) => v === 'true'),
  }),
);

/**
 * POST /api/v1/booking-invitations: invite a patient to book a time of one appointment type. Strict
 * JSON types: clinicianIds is an array even for one clinician.
 */
export const bookingInvitationCreateBody = z.strictObject({
  nhsNumber: nhsNumberSchema.meta({ description: '10-digit NHS number of a patient of your organisation (spaces allowed).' }),
  appointmentTypeId: appointmentTypeIdSchema,
  clinicianIds: z
    .array(z.uuid('Enter clinician ids from GET /api/v1/appointment-types'), 'clinicianIds must be an array of clinician ids')
    .max(50, 'Choose 50 clinicians at most')
    .optional()
    .meta({ description: 'Only these clinicians\' times are offered (ids from GET /api/v1/appointment-types). Without it, or empty: any clinician\'s.' }),
  earliest: calendarDate('earliest date')
    .optional()
    .meta({ description: 'The first London date the patient may book, YYYY-MM-DD, today or later. Without it: today.' }),
  latest: calendarDate('latest date')
    .optional()
    .meta({ description: `The last London date the patient may book, YYYY-MM-DD, within ${WINDOW_MAX_WEEKS} weeks of the earliest. Without it: 6 weeks from the earliest.` }),
});

/**
 * POST /api/v1/documents: the text fields of the multipart/form-data body (the PDF is its `file` part,
 * after these). Unknown fields are refused, as in JSON bodies.
 */
export const documentCreateFields = z.strictObject({
  nhsNumber: nhsNumberSchema.meta({ description: '10-digit NHS number of a patient of your organisation (spaces allowed).' }),
  title: documentTitleSchema.meta({
    description: `What the document is, 1 to ${DOCUMENT_TITLE_MAX} characters, shown to the patient behind the link (never in the text message).`,
  }),
  note: documentNoteSchema.optional().meta({ description: `Optional words shown with the document, up to ${DOCUMENT_NOTE_MAX.toLocaleString('en-GB')} characters.` }),
});

export const documentPathParams = z.strictObject({ id: z.uuid('Document not found') });

// ---- Responses (describe what the service returns; used for the OpenAPI description and types) --

export const patientResponse = z.object({
  nhsNumber: z.string().meta({ examples: ['9990000018'] }),
  givenName: z.string(),
  familyName: z.string(),
  dateOfBirth: z.iso.date(),
  mobileNumber: z.string().meta({ description: 'E.164', examples: ['+447700900001'] }),
});
export type PatientResponse = z.output<typeof patientResponse>;

export const smsStatuses = ['queued', 'sending', 'sent', 'delivered', 'failed'] as const;
export const smsFailureReasons = ['permanent_failure', 'temporary_failure', 'technical_failure'] as const;
export const linkStates = ['active', 'expired', 'revoked', 'locked'] as const;

export const messageCreatedResponse = z.object({
  id: z.uuid().meta({ description: 'The message (conversation) id; use it with GET /api/v1/messages/{id}.' }),
  status: z.literal('queued'),
  replyMode: z.enum(replyModes),
  createdAt: z.iso.datetime(),
});
export type MessageCreatedResponse = z.output<typeof messageCreatedResponse>;

export const messageResponse = z.object({
  id: z.uuid(),
  status: z.enum(smsStatuses).meta({ description: 'Delivery status of the text message carrying the link.' }),
  failureReason: z
    .enum(smsFailureReasons)
    .optional()
    .meta({ description: "Only when status is 'failed': permanent_failure (not a mobile that can receive texts), temporary_failure (the phone was off or unreachable), technical_failure (provider problem)." }),
  replyMode: z.enum(replyModes),
  createdAt: z.iso.datetime(),
  patient: z.object({ nhsNumber: z.string() }),
  link: z.object({
    expiresAt: z.iso.datetime(),
    state: z.enum(linkStates).meta({
      description:
        "active: the patient can open it. locked: too many wrong dates of birth or security codes; staff can re-send (a lock after 5 wrong dates of birth in a row also ends by itself after 30 minutes). expired: the link no longer opens it; in the patient's NHS login list it stays readable but takes no reply. revoked: staff stopped every link of this message, and it is gone from the patient's NHS login list too (how a message sent to the wrong person is put right).",
    }),
  }),
  replies: z.array(z.object({ id: z.uuid(), body: z.string(), createdAt: z.iso.datetime() })),
});
export type MessageResponse = z.output<typeof messageResponse>;

export const questionnaireAddedResponse = z.object({
  id: z.uuid().meta({ description: 'Use it with GET /api/v1/questionnaires/{id}.' }),
  url: z.string(),
  version: z.string(),
  title: z.string().nullable(),
});
export type QuestionnaireAddedResponse = z.output<typeof questionnaireAddedResponse>;

export const questionnaireListResponse = z.object({
  questionnaires: z.array(
    z.object({
      id: z.uuid().optional().meta({ description: "Only your organisation's own questionnaires have an id." }),
      url: z.string(),
      version: z.string(),
      title: z.string().nullable(),
      source: z.enum(['catalogue', 'organisation']).meta({
        description: "catalogue: built into Dovecote; organisation: added by your organisation (for each url, the version added last).",
      }),
    }),
  ),
});
export type QuestionnaireListResponse = z.output<typeof questionnaireListResponse>;

export const questionnaireRequestCreatedResponse = z.object({
  id: z.uuid().meta({ description: 'The questionnaire request (conversation) id; use it with GET /api/v1/questionnaire-requests/{id}/response.' }),
  status: z.literal('queued').meta({ description: 'The text with the link is queued for sending.' }),
  questionnaire: z.object({ url: z.string(), version: z.string(), title: z.string() }),
  closesAt: z.iso.datetime().meta({ description: 'When the link stops opening the questionnaire; answers not submitted by then stay in progress.' }),
  createdAt: z.iso.datetime(),
});
export type QuestionnaireRequestCreatedResponse = z.output<typeof questionnaireRequestCreatedResponse>;

// ---- Booking responses ----

const clinicianRef = z.object({ id: z.uuid(), name: z.string(), role: z.string() });
const locationRef = z.object({ id: z.uuid(), name: z.string() });

export const appointmentTypesResponse = z.object({
  appointmentTypes: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      lengthMinutes: z.int(),
      mode: z.enum(['face_to_face', 'telephone', 'video']),
      cancelCutoffMinutes: z.int().meta({ description: 'The patient may change or cancel a booking themselves until this many minutes before it starts.' }),
    }),
  ),
  clinicians: z.array(clinicianRef),
  locations: z.array(z.object({ id: z.uuid(), name: z.string(), address: z.string(), phone: z.string() })),
});
export type AppointmentTypesResponse = z.output<typeof appointmentTypesResponse>;

export const bookingSlotsResponse = z.object({
  slots: z.array(
    z.object({
      id: z.uuid(),
      start: z.iso.datetime().meta({ description: 'UTC instant (ends in Z).' }),
      end: z.iso.datetime().meta({ description: 'UTC instant (ends in Z).' }),
      clinician: clinicianRef,
      location: locationRef,
    }),
  ),
});
export type BookingSlotsResponse = z.output<typeof bookingSlotsResponse>;

export const bookingInvitationCreatedResponse = z.object({
  id: z.uuid().meta({ description: 'The invitation (conversation) id; its booking, once made, lists it as invitationId in GET /api/v1/bookings.' }),
  status: z.literal('queued').meta({ description: 'The text with the link is queued for sending.' }),
  appointmentType: z.object({ id: z.uuid(), name: z.string() }),
  earliest: z.iso.date().meta({ description: 'The first London date the patient may book.' }),
  latest: z.iso.date().meta({ description: 'The last London date the patient may book.' }),
  linkExpiresAt: z.iso.datetime().meta({ description: 'When the link stops opening the invitation if nothing is booked (a booking keeps it working until the appointment).' }),
  createdAt: z.iso.datetime(),
});
export type BookingInvitationCreatedResponse = z.output<typeof bookingInvitationCreatedResponse>;

const bookingJson = z.object({
  id: z.uuid(),
  invitationId: z.uuid().meta({ description: 'The invitation (conversation) the booking was made from.' }),
  status: z.enum(['booked', 'cancelled']),
  patient: z.object({ nhsNumber: z.string() }),
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  clinician: clinicianRef,
  location: locationRef,
  appointmentType: z.object({ id: z.uuid(), name: z.string() }),
  bookedAt: z.iso.datetime(),
  cancelledAt: z.iso.datetime().nullable(),
  cancelledBy: z.enum(['patient', 'staff']).nullable().meta({ description: 'Who cancelled it: the patient, or your staff. null while booked.' }),
  cancelReason: z.string().nullable().meta({ description: 'The reason given when it was cancelled, if any.' }),
});

export const bookingsResponse = z.object({ bookings: z.array(bookingJson) });
export type BookingsResponse = z.output<typeof bookingsResponse>;
export type BookingJson = z.output<typeof bookingJson>;

export const bookingInvitationResponse = bookingInvitationCreatedResponse.omit({ status: true }).extend({
  status: z.enum(['waiting', 'booked', 'cancelled', 'closed']).meta({
    description: 'waiting: nothing booked yet and the patient can still book; booked: a time is booked; cancelled: the last booking was cancelled; closed: nothing booked and the time to book has passed (or the link was revoked).',
  }),
  booking: bookingJson.nullable().meta({ description: 'The booking now standing, or null.' }),
  history: z.array(bookingJson).meta({ description: 'Every booking made from the invitation, newest first, a time changed from included (status cancelled).' }),
});
export type BookingInvitationResponse = z.output<typeof bookingInvitationResponse>;

// ---- Document responses ----

const documentFile = z.object({
  name: z.string().meta({ description: 'The file name the patient is offered (cleaned of paths and unsafe characters).' }),
  mediaType: z.string().meta({ description: 'Found from the bytes, never from the name or the type sent: application/pdf.', examples: ['application/pdf'] }),
  sizeBytes: z.int(),
});

export const documentCreatedResponse = z.object({
  id: z.uuid().meta({ description: 'The document (conversation) id; use it with GET /api/v1/documents/{id}.' }),
  status: z.literal('queued').meta({ description: 'The text with the link is queued for sending.' }),
  title: z.string(),
  file: documentFile,
  availableUntil: z.iso.datetime().meta({ description: 'The patient can open the document until then; after it the file is deleted.' }),
  linkExpiresAt: z.iso.datetime(),
  createdAt: z.iso.datetime(),
});
export type DocumentCreatedResponse = z.output<typeof documentCreatedResponse>;

export const documentResponse = z.object({
  id: z.uuid(),
  status: z.enum(smsStatuses).meta({ description: 'Delivery status of the text message carrying the link.' }),
  failureReason: z.enum(smsFailureReasons).optional().meta({ description: "Only when status is 'failed' (see GET /api/v1/messages/{id})." }),
  createdAt: z.iso.datetime(),
  patient: z.object({ nhsNumber: z.string() }),
  title: z.string(),
  note: z.string().meta({ description: 'The note sent with it; empty if none.' }),
  file: documentFile,
  available: z.boolean().meta({ description: 'Whether the patient can open it now: false once availableUntil has passed or the file was deleted.' }),
  availableUntil: z.iso.datetime(),
  deleted: z.boolean().meta({ description: "The file's bytes are gone from the store (its time passed, or it was removed); the record stays." }),
  firstOpenedAt: z.iso.datetime().nullable().meta({ description: 'When the patient first opened or downloaded it; null until then. Every opening is in the audit trail.' }),
  link: z.object({ expiresAt: z.iso.datetime(), state: z.enum(linkStates).meta({ description: 'As for GET /api/v1/messages/{id}.' }) }),
});
export type DocumentResponse = z.output<typeof documentResponse>;

const responseAnswer = z.looseObject({}).meta({
  description: 'One FHIR R4 answer: valueBoolean, valueCoding, valueString, valueInteger, valueDecimal, valueDate or valueQuantity.',
});

/**
 * GET /api/v1/questionnaire-requests/{id}/response: a FHIR R4 QuestionnaireResponse (built by
 * features/questionnaires/response.ts). Only its outline is described; the resource is FHIR's.
 */
export const questionnaireResponseResource = z
  .looseObject({
    resourceType: z.literal('QuestionnaireResponse'),
    id: z.uuid().meta({ description: 'The questionnaire request (conversation) id.' }),
    questionnaire: z.string().meta({ description: 'The exact questionnaire answered, as url|version.' }),
    status: z.enum(['in-progress', 'completed']).meta({
      description: 'in-progress: the patient has saved answers but not submitted them (they can still change). completed: submitted; the answers can no longer change.',
    }),
    subject: z.object({ identifier: z.object({ system: z.literal('https://fhir.nhs.uk/Id/nhs-number'), value: z.string() }) }),
    authored: z.iso.datetime().meta({ description: 'When submitted; while in progress, when an answer was last saved.' }),
    item: z.array(
      z.looseObject({
        linkId: z.string(),
        text: z.string().optional(),
        answer: z.array(responseAnswer).optional(),
        item: z.array(z.looseObject({})).optional().meta({ description: "A group's items, in the same shape." }),
      }),
    ).meta({
      description:
        'Answers to the questions the patient was asked, in the questionnaire\'s order, with calculated values (scores, BMI, averages) worked out by the service. Answers to questions no longer asked are left out.',
    }),
  })
  .meta({ description: 'A FHIR R4 QuestionnaireResponse, sent as application/fhir+json.' });

export const questionnaireProblem = z.object({
  linkId: z.string().meta({ description: 'The item (its linkId), or "questionnaire" for the resource itself.' }),
  message: z.string(),
});

export const fieldError = z.object({
  field: z.string().meta({ description: 'The field (body property or path parameter) that is wrong; nested fields are joined with dots.' }),
  message: z.string(),
});
export type FieldError = z.output<typeof fieldError>;

export const problem = z
  .object({
    type: z.string().meta({ examples: ['about:blank'] }),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    errors: z.array(fieldError).optional().meta({ description: 'Present on 400 responses: one entry for each field that is wrong.' }),
    problems: z
      .array(questionnaireProblem)
      .optional()
      .meta({ description: 'Present when a questionnaire is refused (400): one entry for each problem, naming the item by linkId.' }),
    limit: z
      .int()
      .optional()
      .meta({ description: "Present when your organisation's daily send limit is reached (429): how many messages it may send in a UK day." }),
    resetsAt: z.iso
      .datetime()
      .optional()
      .meta({ description: 'Present with `limit`: when the next UK day starts (midnight, Europe/London) and sending works again.' }),
  })
  .meta({ description: 'RFC 9457 problem details, sent as application/problem+json.' });
export type Problem = z.output<typeof problem>;

// ---- Turning zod issues into the API's field errors ---------------------------------------------

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** One entry per wrong field, in the order zod found them; unknown fields are named one by one. */
export function fieldErrorsFrom(error: z.ZodError, input: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ field: field ? `${field}.${key}` : key, message: 'This field is not allowed' });
      continue;
    }
    if (issue.code === 'invalid_type' && issue.path.length === 0) {
      out.push({ field: '(body)', message: 'The request body must be a JSON object' });
      continue;
    }
    // A present value of the wrong type (a number for a name, say) gets words that say so, rather than
    // the "Enter …" words meant for a missing value. A number that is not whole is the right type: the
    // schema's own words ("… as a whole number") say what is wrong with it.
    const present = valueAt(input, issue.path);
    if (issue.code === 'invalid_type' && present !== undefined && !(issue.expected === 'int' && typeof present === 'number')) {
      out.push({ field, message: `${field} must be a ${issue.expected === 'string' ? 'string' : issue.expected}` });
      continue;
    }
    out.push({ field, message: issue.message });
  }
  return out;
}

// ---- The OpenAPI description --------------------------------------------------------------------

const EXAMPLE_ID = '3f0c6d2e-8a4b-4c1d-9e7f-2b5a6c8d9e01';
const EXAMPLE_TIME = '2026-11-26T10:00:00.000Z';
const EXAMPLE_TYPE_ID = '5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const EXAMPLE_CLINICIAN_ID = '6b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e';
const EXAMPLE_LOCATION_ID = '7c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f';
const EXAMPLE_SLOT_ID = '8d4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70';
// The built-in weight and height questionnaire answered 72.5 kg and 168 cm: BMI is calculated.
const EXAMPLE_RESPONSE_ITEMS = [
  { linkId: 'body-weight', text: 'What is your weight?', answer: [{ valueDecimal: 72.5 }] },
  { linkId: 'body-height', text: 'What is your height?', answer: [{ valueDecimal: 168 }] },
  { linkId: 'bmi', text: 'Body mass index (BMI)', answer: [{ valueDecimal: 25.7 }] },
];
const EXAMPLES = {
  PatientDetails: { givenName: 'Priya', familyName: 'Shah', dateOfBirth: '1984-03-12', mobileNumber: '07700 900001' },
  Patient: { nhsNumber: '9990000018', givenName: 'Priya', familyName: 'Shah', dateOfBirth: '1984-03-12', mobileNumber: '+447700900001' },
  MessageCreate: { nhsNumber: '9990000018', body: 'Your blood test results are normal. No action is needed.', replyMode: 'once' },
  MessageCreated: { id: EXAMPLE_ID, status: 'queued', replyMode: 'once', createdAt: EXAMPLE_TIME },
  Message: {
    id: EXAMPLE_ID,
    status: 'delivered',
    replyMode: 'once',
    createdAt: EXAMPLE_TIME,
    patient: { nhsNumber: '9990000018' },
    link: { expiresAt: '2026-12-03T10:00:00.000Z', state: 'active' },
    replies: [{ id: 'a7e1c2d3-4b5f-4a6b-8c9d-0e1f2a3b4c5d', body: 'Thank you', createdAt: '2026-11-26T11:30:00.000Z' }],
  },
  QuestionnaireCreate: {
    resourceType: 'Questionnaire',
    url: 'https://example.org/fhir/Questionnaire/hay-fever',
    version: '1.0.0',
    status: 'active',
    title: 'Hay fever',
    item: [{ linkId: 'sneezing', type: 'boolean', text: 'Have you been sneezing this week?', required: true }],
  },
  QuestionnaireAdded: { id: EXAMPLE_ID, url: 'https://example.org/fhir/Questionnaire/hay-fever', version: '1.0.0', title: 'Hay fever' },
  QuestionnaireList: {
    questionnaires: [
      { url: 'https://dovecote.example/fhir/Questionnaire/phq-9', version: '1.0.0', title: 'PHQ-9', source: 'catalogue' },
      { id: EXAMPLE_ID, url: 'https://example.org/fhir/Questionnaire/hay-fever', version: '1.0.0', title: 'Hay fever', source: 'organisation' },
    ],
  },
  QuestionnaireRequestCreate: {
    nhsNumber: '9990000018',
    questionnaire: { url: 'https://dovecote.example/fhir/Questionnaire/weight-height-bmi', version: '1.0.0' },
    closesAfterDays: 14,
  },
  QuestionnaireRequestCreated: {
    id: EXAMPLE_ID,
    status: 'queued',
    questionnaire: { url: 'https://dovecote.example/fhir/Questionnaire/weight-height-bmi', version: '1.0.0', title: 'Weight and height' },
    closesAt: '2026-12-10T10:00:00.000Z',
    createdAt: EXAMPLE_TIME,
  },
  // What the service returns for it once submitted (api-questionnaires.test.ts checks it is).
  QuestionnaireResponse: {
    resourceType: 'QuestionnaireResponse',
    id: EXAMPLE_ID,
    questionnaire: 'https://dovecote.example/fhir/Questionnaire/weight-height-bmi|1.0.0',
    status: 'completed',
    subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000018' } },
    authored: '2026-11-26T18:42:07.000Z',
    item: EXAMPLE_RESPONSE_ITEMS,
  },
  AppointmentTypes: {
    appointmentTypes: [{ id: EXAMPLE_TYPE_ID, name: 'Flu vaccination', lengthMinutes: 10, mode: 'face_to_face', cancelCutoffMinutes: 60 }],
    clinicians: [{ id: EXAMPLE_CLINICIAN_ID, name: 'Sam Patel', role: 'Practice nurse' }],
    locations: [{ id: EXAMPLE_LOCATION_ID, name: 'Riverside Surgery', address: '1 River Street, Leeds LS1 1AA', phone: '01632 960 001' }],
  },
  BookingSlots: {
    slots: [
      {
        id: EXAMPLE_SLOT_ID,
        start: '2026-12-03T09:00:00.000Z',
        end: '2026-12-03T09:10:00.000Z',
        clinician: { id: EXAMPLE_CLINICIAN_ID, name: 'Sam Patel', role: 'Practice nurse' },
        location: { id: EXAMPLE_LOCATION_ID, name: 'Riverside Surgery' },
      },
    ],
  },
  BookingInvitationCreate: { nhsNumber: '9990000018', appointmentTypeId: EXAMPLE_TYPE_ID, clinicianIds: [EXAMPLE_CLINICIAN_ID], earliest: '2026-11-30', latest: '2026-12-18' },
  BookingInvitationCreated: {
    id: EXAMPLE_ID,
    status: 'queued',
    appointmentType: { id: EXAMPLE_TYPE_ID, name: 'Flu vaccination' },
    earliest: '2026-11-30',
    latest: '2026-12-18',
    linkExpiresAt: '2026-12-10T10:00:00.000Z',
    createdAt: EXAMPLE_TIME,
  },
  Bookings: {
    bookings: [
      {
        id: 'b2d4f6a8-1c3e-4a5b-9d7f-0e2c4a6b8d10',
        invitationId: EXAMPLE_ID,
        status: 'booked',
        patient: { nhsNumber: '9990000018' },
        start: '2026-12-03T09:00:00.000Z',
        end: '2026-12-03T09:10:00.000Z',
        clinician: { id: EXAMPLE_CLINICIAN_ID, name: 'Sam Patel', role: 'Practice nurse' },
        location: { id: EXAMPLE_LOCATION_ID, name: 'Riverside Surgery' },
        appointmentType: { id: EXAMPLE_TYPE_ID, name: 'Flu vaccination' },
        bookedAt: '2026-11-26T12:15:00.000Z',
        cancelledAt: null,
        cancelledBy: null,
        cancelReason: null,
      },
    ],
  },
  BookingInvitation: {
    id: EXAMPLE_ID,
    status: 'booked',
    appointmentType: { id: EXAMPLE_TYPE_ID, name: 'Flu vaccination' },
    earliest: '2026-11-30',
    latest: '2026-12-18',
    linkExpiresAt: '2026-12-03T09:10:00.000Z',
    createdAt: EXAMPLE_TIME,
    booking: null,
    history: [],
  },
  DocumentCreated: {
    id: EXAMPLE_ID,
    status: 'queued',
    title: 'Blood test results',
    file: { name: 'results.pdf', mediaType: 'application/pdf', sizeBytes: 48213 },
    availableUntil: '2026-12-24T10:00:00.000Z',
    linkExpiresAt: '2026-12-24T10:00:00.000Z',
    createdAt: EXAMPLE_TIME,
  },
  Document: {
    id: EXAMPLE_ID,
    status: 'delivered',
    createdAt: EXAMPLE_TIME,
    patient: { nhsNumber: '9990000018' },
    title: 'Blood test results',
    note: 'All normal. No action is needed.',
    file: { name: 'results.pdf', mediaType: 'application/pdf', sizeBytes: 48213 },
    available: true,
    availableUntil: '2026-12-24T10:00:00.000Z',
    deleted: false,
    firstOpenedAt: '2026-11-26T12:03:00.000Z',
    link: { expiresAt: '2026-12-24T10:00:00.000Z', state: 'active' },
  },
} satisfies Record<string, unknown>;

const json = (name: keyof typeof EXAMPLES) => ({
  'application/json': { schema: { $ref: `#/components/schemas/${name}` }, example: EXAMPLES[name] },
});

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** The multipart body of POST /api/v1/documents: the text fields, then the PDF as a binary part. */
function documentCreateSchema(maxMb: number): Record<string, unknown> {
  const fields = jsonSchema(documentCreateFields, 'input') as { properties: Record<string, unknown>; required: string[] };
  return {
    ...fields,
    properties: {
      ...fields.properties,
      file: {
        type: 'string',
        format: 'binary',
        contentMediaType: 'application/pdf',
        description: `The PDF, at most ${maxMb} MB, as the LAST part (after the fields). What it is is found from its bytes: anything but a PDF is refused, as is a PDF with scripts or attachments.`,
      },
    },
    required: [...fields.required, 'file'],
  };
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const commonProblems = {
  '401': problemResponse('No API key, or the key is not valid or has been revoked.'),
  '429': {
    ...problemResponse('Too many requests for this API key. Wait for the number of seconds in Retry-After.'),
    headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds until you may try again.' } },
  },
  '503': {
    ...problemResponse(
      'The service is briefly unavailable (for example, its database is restarting). Send the request again after the number of seconds in Retry-After. Almost always nothing was changed; only if the database went away at the moment the change was saved can it have been made, so a message may, rarely, be sent twice.',
    ),
    headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait before sending the request again.' } },
  },
};

/** The optional Idempotency-Key header of every POST that creates something (api-idempotency.service.ts). */
const idempotencyKeyParameter = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: [
    'Optional, and recommended: a key you make for each new request (a UUID, say), 1 to 255 printable ASCII characters.',
    'Send the request again with the same key and body (after a time-out, say) and, within 24 hours, you get the first response again, with the header `Idempotent-Replayed: true`, and nothing is sent twice.',
    'Keys are your API key\'s own. The same key with a different request gets 422; while the first request is still being handled, 409.',
    'Responses with 409, 429 or 5xx are not kept: send the same key again later. After 24 hours a key is new again.',
  ].join(' '),
  schema: { type: 'string', minLength: 1, maxLength: 255 },
  example: '3f1e2d9c-7b4a-4c1e-9a8f-2b6d5e4c3a10',
};

const replayedHeader = {
  'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] }, description: 'Present when this is the stored response to an earlier request with the same Idempotency-Key.' },
};

const idempotencyInProgress = {
  ...problemResponse('A request with this Idempotency-Key is still being handled. Send it again after Retry-After (1 second) to get its response.'),
  headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait before sending the request again.' } },
};

const idempotencyProblems = {
  '409': idempotencyInProgress,
  '422': problemResponse('This Idempotency-Key was used in the last 24 hours with a different request (another body or endpoint). Use a new key for a new request.'),
};

/** OpenAPI 3.1 document for the API, generated from the schemas above. */
export function buildOpenApiDocument(opts: { serverUrl: string; rateLimitPerMinute: number; documentMaxMb?: number }): Record<string, unknown> {
  const documentMaxMb = opts.documentMaxMb ?? 10;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Dovecote API',
      version: '1.0.0',
      description: [
        'Send patients secure messages, documents (PDFs), questionnaires and invitations to book appointments by text from your own systems, and read their answers and bookings.',
        '',
        'Authenticate with your organisation\'s API key: `Authorization: Bearer dck_…`. Operators create keys with `npm run admin -- api-keys create`; a key is shown once.',
        'Everything you send or read is limited to your organisation: another organisation\'s patients and messages answer 404.',
        `Each key may make ${opts.rateLimitPerMinute} requests a minute; more get 429 with a Retry-After header.`,
        'While the service is briefly unavailable (a database restart, say) requests get 503 with a Retry-After header: send them again after that many seconds.',
        'Errors are RFC 9457 problem documents (`application/problem+json`); a 400 lists every wrong field in `errors`.',
        'Request bodies must be JSON (`Content-Type: application/json`) and at most 64 KB (a questionnaire: 1 MB, and `application/fhir+json` too); unknown fields are refused.',
        'The one exception is POST /api/v1/documents, which takes `multipart/form-data`: the fields first, then the PDF.',
        'Every POST that creates something takes an optional `Idempotency-Key` header: send a request again with the same key and body within 24 hours and you get the first response (with `Idempotent-Replayed: true`), and nothing is sent twice.',
      ].join('\n'),
    },
    servers: [{ url: opts.serverUrl }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'dck_<prefix>_<secret>', description: 'Organisation API key.' },
      },
      schemas: {
        PatientDetails: jsonSchema(patientPutBody, 'input'),
        Patient: jsonSchema(patientResponse, 'output'),
        MessageCreate: jsonSchema(messageCreateBody, 'input'),
        MessageCreated: jsonSchema(messageCreatedResponse, 'output'),
        Message: jsonSchema(messageResponse, 'output'),
        QuestionnaireCreate: jsonSchema(questionnaireCreateBody, 'input'),
        QuestionnaireAdded: jsonSchema(questionnaireAddedResponse, 'output'),
        QuestionnaireList: jsonSchema(questionnaireListResponse, 'output'),
        QuestionnaireRequestCreate: jsonSchema(questionnaireRequestCreateBody, 'input'),
        QuestionnaireRequestCreated: jsonSchema(questionnaireRequestCreatedResponse, 'output'),
        QuestionnaireResponse: jsonSchema(questionnaireResponseResource, 'output'),
        AppointmentTypes: jsonSchema(appointmentTypesResponse, 'output'),
        BookingSlots: jsonSchema(bookingSlotsResponse, 'output'),
        BookingInvitationCreate: jsonSchema(bookingInvitationCreateBody, 'input'),
        BookingInvitationCreated: jsonSchema(bookingInvitationCreatedResponse, 'output'),
        Bookings: jsonSchema(bookingsResponse, 'output'),
        BookingInvitation: jsonSchema(bookingInvitationResponse, 'output'),
        DocumentCreate: documentCreateSchema(documentMaxMb),
        DocumentCreated: jsonSchema(documentCreatedResponse, 'output'),
        Document: jsonSchema(documentResponse, 'output'),
        Problem: jsonSchema(problem, 'output'),
      },
    },
    paths: {
      '/api/v1/patients/{nhsNumber}': {
        put: {
          operationId: 'putPatient',
          summary: 'Create or update a patient',
          description: 'Creates the patient in your organisation, or updates the details of the one with this NHS number.',
          parameters: [
            {
              name: 'nhsNumber',
              in: 'path',
              required: true,
              description: '10-digit NHS number with a valid check digit.',
              schema: { type: 'string', examples: ['9990000018'] },
            },
          ],
          requestBody: { required: true, content: json('PatientDetails') },
          responses: {
            '200': { description: 'Updated.', content: json('Patient') },
            '201': { description: 'Created.', content: json('Patient') },
            '400': problemResponse('The NHS number or a field of the body is not valid; `errors` names each one.'),
            ...commonProblems,
            '413': problemResponse('The body is larger than 64 KB.'),
            '415': problemResponse('The body is not JSON.'),
          },
        },
      },
      '/api/v1/messages': {
        post: {
          operationId: 'sendMessage',
          parameters: [idempotencyKeyParameter],
          summary: 'Send a message to a patient',
          description:
            'Texts the patient a secure link to the message. The patient must already exist in your organisation (PUT the patient first).',
          requestBody: { required: true, content: json('MessageCreate') },
          responses: {
            '201': {
              description: 'Queued for sending.',
              headers: { Location: { schema: { type: 'string' }, description: 'URL of the message.' }, ...replayedHeader },
              content: json('MessageCreated'),
            },
            '400': problemResponse('A field of the body is not valid; `errors` names each one.'),
            ...commonProblems,
            ...idempotencyProblems,
            '429': {
              ...problemResponse(
                "Too many requests for this API key (wait for the number of seconds in Retry-After), or your organisation has sent as many messages today as it may: then `limit` says how many, and `resetsAt` when sending works again (midnight, UK time).",
              ),
              headers: commonProblems['429'].headers,
            },
            '404': problemResponse('No patient with this NHS number in your organisation.'),
            '413': problemResponse('The body is larger than 64 KB.'),
            '415': problemResponse('The body is not JSON.'),
          },
        },
      },
      '/api/v1/messages/{id}': {
        get: {
          operationId: 'getMessage',
          summary: 'Read a message: delivery status, link state and replies',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': { description: 'The message.', content: json('Message') },
            ...commonProblems,
            '404': problemResponse('No such message in your organisation.'),
          },
        },
      },
      '/api/v1/documents': {
        post: {
          operationId: 'sendDocument',
          parameters: [idempotencyKeyParameter],
          summary: 'Send a document (a PDF) to a patient',
          description: [
            'Texts the patient a secure link to the document; behind it they see its title and your note, and open or download the PDF until `availableUntil`.',
            'Send `multipart/form-data` with the fields `nhsNumber`, `title` and (optionally) `note` FIRST, then the PDF as the part named `file`: the file is streamed, checked and virus-scanned as it arrives, and the fields are checked (and the patient looked up) before a byte of it is stored.',
            'A file that is not a PDF (whatever its name), is too big, contains scripts or attachments, or contains a virus is refused with 400 naming `file`, and nothing is kept.',
            "The patient must already exist in your organisation (PUT the patient first). Each document sent counts towards your organisation's daily send limit, as messages do.",
          ].join(' '),
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: { $ref: '#/components/schemas/DocumentCreate' },
                encoding: { file: { contentType: 'application/pdf' } },
              },
            },
          },
          responses: {
            '201': {
              description: 'Queued for sending.',
              headers: { Location: { schema: { type: 'string' }, description: 'URL of the document: GET it to see whether the patient has opened it.' }, ...replayedHeader },
              content: json('DocumentCreated'),
            },
            '400': problemResponse(
              'A field is not valid, the file is missing, came before the fields, or was refused (not a PDF, too big, scripts or attachments, a virus); `errors` names each field (`file` for the file).',
            ),
            ...commonProblems,
            ...idempotencyProblems,
            '429': {
              ...problemResponse(
                'Too many requests for this API key (wait for the number of seconds in Retry-After), or your organisation has sent as many messages and documents today as it may: then `limit` says how many, and `resetsAt` when sending works again (midnight, UK time).',
              ),
              headers: commonProblems['429'].headers,
            },
            '404': problemResponse('No patient with this NHS number in your organisation.'),
            '413': problemResponse('The body has too many parts (send the three fields and one file).'),
            '415': problemResponse('The body is neither multipart/form-data nor JSON.'),
            '503': {
              ...problemResponse(
                'The file could not be checked for viruses just now, or the service is briefly unavailable: nothing was kept or sent. Send the request again after the number of seconds in Retry-After.',
              ),
              headers: commonProblems['503'].headers,
            },
          },
        },
      },
      '/api/v1/documents/{id}': {
        get: {
          operationId: 'getDocument',
          summary: 'Read a document: delivery, whether it can still be opened, and when the patient first opened it',
          description: 'Each read is recorded in the audit trail.',
          parameters: [{ name: 'id', in: 'path', required: true, description: 'The id returned when the document was sent.', schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': { description: 'The document.', content: json('Document') },
            ...commonProblems,
            '404': problemResponse('No document with this id in your organisation.'),
          },
        },
      },
      '/api/v1/questionnaires': {
        post: {
          operationId: 'addQuestionnaire',
          parameters: [idempotencyKeyParameter],
          summary: 'Add one of your own questionnaires',
          description:
            'Checks a FHIR R4 Questionnaire as the questionnaire engine will run it and stores it for your organisation. A version, once added, never changes (each response records the exact version it answered): sending the same url and version again with the same content returns the stored one (200); with different content it is refused (409), so give your changes a new version.',
          requestBody: {
            required: true,
            content: {
              ...json('QuestionnaireCreate'),
              'application/fhir+json': { schema: { $ref: '#/components/schemas/QuestionnaireCreate' } },
            },
          },
          responses: {
            '201': {
              description: 'Added.',
              headers: { Location: { schema: { type: 'string' }, description: 'URL of the questionnaire.' }, ...replayedHeader },
              content: json('QuestionnaireAdded'),
            },
            '200': { description: 'This version, with the same content, was already added: nothing changed.', headers: replayedHeader, content: json('QuestionnaireAdded') },
            '400': problemResponse('The questionnaire cannot be used as it is: `problems` names each item (by linkId) and what is wrong with it.'),
            ...commonProblems,
            ...idempotencyProblems,
            '409': {
              ...idempotencyInProgress,
              description:
                'This version of this questionnaire already exists with different content (give it a new version), or it is a built-in one; or a request with this Idempotency-Key is still being handled (then Retry-After says when to send it again).',
            },
            '413': problemResponse('The body is larger than 1 MB.'),
            '415': problemResponse('The body is not JSON.'),
          },
        },
        get: {
          operationId: 'listQuestionnaires',
          summary: 'List the questionnaires you can send',
          description: "The built-in catalogue, then your organisation's own (for each url, the version added last).",
          responses: { '200': { description: 'The questionnaires.', content: json('QuestionnaireList') }, ...commonProblems },
        },
      },
      '/api/v1/questionnaires/{id}': {
        get: {
          operationId: 'getQuestionnaire',
          summary: "Read one of your organisation's questionnaires, as it was added",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': {
              description: 'The FHIR Questionnaire resource.',
              content: { 'application/fhir+json': { schema: { $ref: '#/components/schemas/QuestionnaireCreate' } } },
            },
            ...commonProblems,
            '404': problemResponse('No such questionnaire in your organisation.'),
          },
        },
      },
      '/api/v1/questionnaire-requests': {
        post: {
          operationId: 'sendQuestionnaire',
          parameters: [idempotencyKeyParameter],
          summary: 'Send a questionnaire to a patient',
          description:
            'Texts the patient a secure link to one exact version of a questionnaire (from GET /api/v1/questionnaires). The patient answers it one question a page; read the answers with GET /api/v1/questionnaire-requests/{id}/response. The patient must already exist in your organisation (PUT the patient first). Each questionnaire sent counts towards your organisation\'s daily send limit, as messages do.',
          requestBody: { required: true, content: json('QuestionnaireRequestCreate') },
          responses: {
            '201': { description: 'Queued for sending.', headers: replayedHeader, content: json('QuestionnaireRequestCreated') },
            '400': problemResponse(
              'A field of the body is not valid, or there is no questionnaire with this url and version in your organisation or the catalogue; `errors` names each field.',
            ),
            ...commonProblems,
            ...idempotencyProblems,
            '429': {
              ...problemResponse(
                'Too many requests for this API key (wait for the number of seconds in Retry-After), or your organisation has sent as many messages and questionnaires today as it may: then `limit` says how many, and `resetsAt` when sending works again (midnight, UK time).',
              ),
              headers: commonProblems['429'].headers,
            },
            '404': problemResponse('No patient with this NHS number in your organisation.'),
            '413': problemResponse('The body is larger than 64 KB.'),
            '415': problemResponse('The body is not JSON.'),
          },
        },
      },
      '/api/v1/questionnaire-requests/{id}/response': {
        get: {
          operationId: 'getQuestionnaireResponse',
          summary: "Read the patient's answers as a FHIR QuestionnaireResponse",
          description:
            'The answers saved so far (`status` in-progress: the patient may still change them) or submitted (`status` completed: final). The patient is the `subject`, identified by NHS number. Each read is recorded in the audit trail.',
          parameters: [{ name: 'id', in: 'path', required: true, description: 'The id returned when the questionnaire was sent.', schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': {
              description: 'The FHIR R4 QuestionnaireResponse.',
              content: { 'application/fhir+json': { schema: { $ref: '#/components/schemas/QuestionnaireResponse' }, example: EXAMPLES.QuestionnaireResponse } },
            },
            ...commonProblems,
            '404': problemResponse(
              'No questionnaire request with this id in your organisation (`detail`: "There is no questionnaire request with this id in your organisation."), or the patient has not answered any question yet (`detail`: "The patient has not answered any questions yet."; ask again later).',
            ),
          },
        },
      },
      '/api/v1/appointment-types': {
        get: {
          operationId: 'listAppointmentTypes',
          summary: 'List your appointment types, clinicians and locations',
          description:
            "Your organisation's appointment types, clinicians and locations as staff set them up, with the ids the other booking endpoints take. Another organisation's never appear.",
          responses: { '200': { description: 'The types, clinicians and locations.', content: json('AppointmentTypes') }, ...commonProblems },
        },
      },
      '/api/v1/booking-slots': {
        get: {
          operationId: 'listBookingSlots',
          summary: 'List the free times of an appointment type',
          description: [
            `Times of the type starting on the London dates from \`from\` to \`to\` (both included, at most ${BOOKING_QUERY_MAX_WEEKS} weeks) that a patient could book now: in the future, not booked, not blocked by staff, and not held by a patient who is choosing it (a hold lasts a few minutes).`,
            '`start` and `end` are UTC instants (ending in Z); a slot has the same length of time whatever the clocks do.',
            'A list is a snapshot: a free time can be booked a moment later. A slot is booked at most once, and a clinician never has two bookings at the same time: the database enforces both, so of two patients choosing the same time only one gets it. Each list is recorded in the audit trail.',
          ].join(' '),
          parameters: [
            { name: 'appointmentTypeId', in: 'query', required: true, description: 'One of your appointment types (GET /api/v1/appointment-types).', schema: { type: 'string', format: 'uuid' } },
            { name: 'from', in: 'query', required: true, description: 'First London date, YYYY-MM-DD.', schema: { type: 'string', format: 'date' }, example: '2026-12-01' },
            { name: 'to', in: 'query', required: true, description: `Last London date, YYYY-MM-DD: on or after \`from\`, within ${BOOKING_QUERY_MAX_WEEKS} weeks of it.`, schema: { type: 'string', format: 'date' }, example: '2026-12-14' },
            { name: 'clinicianId', in: 'query', required: false, description: "Only this clinician's times.", schema: { type: 'string', format: 'uuid' } },
          ],
          responses: {
            '200': { description: 'The free times, earliest first.', content: json('BookingSlots') },
            '400': problemResponse('A query parameter is missing or not valid, the dates span more than 12 weeks, or the type or clinician is not one of yours; `errors` names each parameter.'),
            ...commonProblems,
          },
        },
      },
      '/api/v1/booking-invitations': {
        post: {
          operationId: 'sendBookingInvitation',
          parameters: [idempotencyKeyParameter],
          summary: 'Invite a patient to book an appointment',
          description: [
            "Texts the patient a secure link to choose a time of the appointment type, from your clinic's free times between `earliest` and `latest` (London dates), optionally with only some clinicians.",
            'The patient books, changes or cancels it themselves with the link; see the result with GET /api/v1/booking-invitations/{id}, or every booking with GET /api/v1/bookings. Each invitation has at most one booking at a time, and a slot is booked at most once (the database enforces both).',
            "The patient must already exist in your organisation (PUT the patient first). Each invitation sent counts towards your organisation's daily send limit, as messages do.",
          ].join(' '),
          requestBody: { required: true, content: json('BookingInvitationCreate') },
          responses: {
            '201': {
              description: 'Queued for sending.',
              headers: { Location: { schema: { type: 'string' }, description: 'URL of the invitation: GET it to see whether the patient has booked.' }, ...replayedHeader },
              content: json('BookingInvitationCreated'),
            },
            '400': problemResponse(
              'A field of the body is not valid, the dates are in the past or span more than 12 weeks, or the appointment type or a clinician is not one of yours; `errors` names each field.',
            ),
            ...commonProblems,
            ...idempotencyProblems,
            '429': {
              ...problemResponse(
                'Too many requests for this API key (wait for the number of seconds in Retry-After), or your organisation has sent as many messages, questionnaires and invitations today as it may: then `limit` says how many, and `resetsAt` when sending works again (midnight, UK time).',
              ),
              headers: commonProblems['429'].headers,
            },
            '404': problemResponse('No patient with this NHS number in your organisation.'),
            '413': problemResponse('The body is larger than 64 KB.'),
            '415': problemResponse('The body is not JSON.'),
          },
        },
      },
      '/api/v1/booking-invitations/{id}': {
        get: {
          operationId: 'getBookingInvitation',
          summary: 'Read an invitation to book and its booking',
          description:
            'Whether the patient has booked, the booking standing now (time, clinician, place) and every booking made from the invitation, newest first (a change of time shows the old one cancelled). Each read is recorded in the audit trail.',
          parameters: [{ name: 'id', in: 'path', required: true, description: 'The id returned when the invitation was sent.', schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': { description: 'The invitation.', content: json('BookingInvitation') },
            ...commonProblems,
            '404': problemResponse('No invitation to book with this id in your organisation.'),
          },
        },
      },
      '/api/v1/bookings': {
        get: {
          operationId: 'listBookings',
          summary: 'List the bookings made',
          description: [
            `Your organisation's bookings starting on the London dates from \`from\` to \`to\` (both included, at most ${BOOKING_QUERY_MAX_WEEKS} weeks), earliest first.`,
            'By default only those still booked; with `includeCancelled=true`, cancelled ones too (by the patient or your staff, with any reason given). When a booking is changed to another time, only the new booking is listed.',
            'A slot is booked at most once and a clinician is never booked twice at the same time: the database enforces both. Each list is recorded in the audit trail.',
          ].join(' '),
          parameters: [
            { name: 'from', in: 'query', required: true, description: 'First London date, YYYY-MM-DD.', schema: { type: 'string', format: 'date' }, example: '2026-12-01' },
            { name: 'to', in: 'query', required: true, description: `Last London date, YYYY-MM-DD: on or after \`from\`, within ${BOOKING_QUERY_MAX_WEEKS} weeks of it.`, schema: { type: 'string', format: 'date' }, example: '2026-12-14' },
            { name: 'includeCancelled', in: 'query', required: false, description: 'true: cancelled bookings too. Default false.', schema: { type: 'string', enum: ['true', 'false'], default: 'false' } },
          ],
          responses: {
            '200': { description: 'The bookings.', content: json('Bookings') },
            '400': problemResponse('A query parameter is missing or not valid, or the dates span more than 12 weeks; `errors` names each parameter.'),
            ...commonProblems,
          },
        },
      },
    },
  };
}
