// Setting up what can be booked: clinicians, locations, appointment types and sessions (whose slots
// are made here, once), blocking a slot. The input schemas are shared by the staff pages and the API,
// so both give the same error messages. Every change is audited.
import { z } from 'zod';
import type { Services } from '../../services.ts';
import { InvalidInput, NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { hasControlCharactersBesidesLineBreaks } from '../../platform/names.ts';
import { recordAudit } from '../audit/audit.service.ts';
import {
  findAppointmentType,
  findClinician,
  findLocation,
  insertAppointmentType,
  insertClinician,
  insertLocation,
  insertSessionWithSlots,
  setSlotBlocked,
  type AppointmentMode,
  type AppointmentType,
  type BookingSession,
  type Clinician,
  type Location,
  type Slot,
} from './booking.repository.ts';
import { daysBetween, isCalendarDate, isWallClockTime, sessionSlots } from './booking-times.ts';

/** Sessions run at most a year ahead: enough for a season of clinics, and a bounded number of slots. */
export const SESSION_MAX_DAYS = 366;
export const SESSION_MAX_SLOTS = 5000;

const text = (label: string, max: number) =>
  z
    .string(`Enter ${label}`)
    .trim()
    .min(1, `Enter ${label}`)
    .max(max, `${label[0]!.toUpperCase()}${label.slice(1)} must be ${max} characters or fewer`)
    .refine((v) => !hasControlCharactersBesidesLineBreaks(v), `${label[0]!.toUpperCase()}${label.slice(1)} must only include letters, numbers and punctuation`);

const wholeNumber = (message: string, min: number, max: number, range: string) =>
  z
    .union([z.number(), z.string().trim().regex(/^\d{1,5}$/, message)], message)
    .pipe(z.coerce.number())
    .pipe(z.number().int(message).min(min, range).max(max, range));

export const MODE_WORDS: Record<AppointmentMode, string> = { face_to_face: 'Face to face', telephone: 'Telephone', video: 'Video' };

export const clinicianInput = z.object({ name: text('the clinician’s name', 120), role: text('their role, for example Practice nurse', 80) });
export const locationInput = z.object({
  name: text('the location’s name', 120),
  address: text('the address', 400),
  phone: z
    .string('Enter a phone number')
    .trim()
    .regex(/^[0-9 +()-]{6,20}$/, 'Enter a phone number, like 01632 960 001'),
});
export const appointmentTypeInput = z.object({
  name: text('the appointment type’s name', 120),
  lengthMinutes: wholeNumber('Enter the length in minutes as a whole number, like 10', 5, 480, 'The length must be between 5 and 480 minutes'),
  mode: z.enum(['face_to_face', 'telephone', 'video'], 'Select how the appointment happens'),
  patientInfo: z
    .string()
    .trim()
    .max(1000, 'What the patient should know must be 1000 characters or fewer')
    .refine((v) => !hasControlCharactersBesidesLineBreaks(v), 'What the patient should know must only include letters, numbers and punctuation')
    .default(''),
  cancelCutoffMinutes: wholeNumber(
    'Enter the cut-off in minutes as a whole number, like 60',
    0,
    10080,
    'The cut-off must be between 0 minutes and 7 days (10080 minutes)',
  ).default(60),
});

const dateField = (label: string) => z.string(`Enter the ${label}`).trim().refine(isCalendarDate, `The ${label} must be a real date`);
const timeField = (label: string) => z.string(`Enter the ${label}`).trim().refine(isWallClockTime, `Enter the ${label} as a 24-hour time, like 09:00 or 13:30`);

export const sessionInput = z
  .object({
    clinicianId: z.string('Select a clinician').refine(isUuid, 'Select a clinician'),
    locationId: z.string('Select a location').refine(isUuid, 'Select a location'),
    appointmentTypeId: z.string('Select an appointment type').refine(isUuid, 'Select an appointment type'),
    firstDate: dateField('date'),
    lastDate: dateField('last date').optional(),
    weekly: z.boolean().default(false),
    startTime: timeField('start time'),
    endTime: timeField('end time'),
  })
  .superRefine((v, ctx) => {
    if (v.endTime <= v.startTime) ctx.addIssue({ code: 'custom', path: ['endTime'], message: 'The end time must be after the start time' });
    if (v.weekly) {
      if (!v.lastDate) ctx.addIssue({ code: 'custom', path: ['lastDate'], message: 'Enter the last date the session repeats on' });
      else if (v.lastDate < v.firstDate) ctx.addIssue({ code: 'custom', path: ['lastDate'], message: 'The last date must be the same as or after the first date' });
      else if (daysBetween(v.firstDate, v.lastDate) > SESSION_MAX_DAYS) ctx.addIssue({ code: 'custom', path: ['lastDate'], message: 'A session can repeat for a year at most' });
    }
  });
export type SessionInput = z.output<typeof sessionInput>;

interface StaffActor {
  organisationId: string;
  staffId: string;
  ip: string | null;
}

async function audited(services: Services, actor: StaffActor, details: Record<string, unknown>): Promise<void> {
  await recordAudit(services.db, { type: 'booking.clinic_changed', actor: { type: 'staff', id: actor.staffId, ip: actor.ip }, organisationId: actor.organisationId, details });
}

export async function addClinician(services: Services, actor: StaffActor, input: z.output<typeof clinicianInput>): Promise<Clinician> {
  const row = await insertClinician(services.db, { organisationId: actor.organisationId, ...input });
  await audited(services, actor, { added: 'clinician', id: row.id });
  return row;
}

export async function addLocation(services: Services, actor: StaffActor, input: z.output<typeof locationInput>): Promise<Location> {
  const row = await insertLocation(services.db, { organisationId: actor.organisationId, ...input });
  await audited(services, actor, { added: 'location', id: row.id });
  return row;
}

export async function addAppointmentType(services: Services, actor: StaffActor, input: z.output<typeof appointmentTypeInput>): Promise<AppointmentType> {
  const row = await insertAppointmentType(services.db, { organisationId: actor.organisationId, ...input });
  await audited(services, actor, { added: 'appointment_type', id: row.id });
  return row;
}

/** Adds a session and makes its slots. Each of its clinician, location and type must be the organisation's own. */
export async function addSession(services: Services, actor: StaffActor, input: SessionInput): Promise<{ session: BookingSession; slots: number }> {
  const [clinician, location, type] = await Promise.all([
    findClinician(services.db, actor.organisationId, input.clinicianId),
    findLocation(services.db, actor.organisationId, input.locationId),
    findAppointmentType(services.db, actor.organisationId, input.appointmentTypeId),
  ]);
  if (!clinician) throw new InvalidInput('Select a clinician');
  if (!location) throw new InvalidInput('Select a location');
  if (!type) throw new InvalidInput('Select an appointment type');
  const pattern = {
    firstDate: input.firstDate,
    lastDate: input.weekly ? input.lastDate! : input.firstDate,
    weekly: input.weekly,
    startTime: input.startTime,
    endTime: input.endTime,
    lengthMinutes: type.lengthMinutes,
  };
  const slots = sessionSlots(pattern);
  if (slots.length === 0) throw new InvalidInput(`The session is too short for one ${type.lengthMinutes}-minute appointment`);
  if (slots.length > SESSION_MAX_SLOTS) throw new InvalidInput(`The session would make more than ${SESSION_MAX_SLOTS} appointments: add it in parts`);
  const created = await services.db.transaction(async (tx) => {
    const made = await insertSessionWithSlots(
      tx,
      { organisationId: actor.organisationId, clinicianId: clinician.id, locationId: location.id, appointmentTypeId: type.id, ...pattern, createdByStaffId: actor.staffId },
      slots,
    );
    await recordAudit(tx, {
      type: 'booking.clinic_changed',
      actor: { type: 'staff', id: actor.staffId, ip: actor.ip },
      organisationId: actor.organisationId,
      details: { added: 'session', id: made.session.id, slots: made.slots },
    });
    return made;
  });
  return created;
}

/** Blocks (or frees again) one slot. A booked slot stays booked: cancel the booking first. */
export async function setSlotBlock(services: Services, actor: StaffActor, slotId: string, blocked: boolean): Promise<Slot> {
  if (!isUuid(slotId)) throw new NotFound('Page not found', 'malformed slot id');
  const slot = await services.db.transaction(async (tx) => {
    const row = await setSlotBlocked(tx, { organisationId: actor.organisationId, slotId, blocked, staffId: actor.staffId, now: services.now() });
    if (!row) throw new NotFound('Page not found', 'slot not in this organisation');
    await recordAudit(tx, {
      type: blocked ? 'booking.slot_blocked' : 'booking.slot_unblocked',
      actor: { type: 'staff', id: actor.staffId, ip: actor.ip },
      organisationId: actor.organisationId,
      details: { slotId },
    });
    return row;
  });
  return slot;
}
