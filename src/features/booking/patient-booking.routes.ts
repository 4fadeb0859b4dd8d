// The booking invitation's patient pages under the conversation's base path (a link's or the portal's):
// the appointment (or Choose a day), Choose a time, Check your appointment, Confirm, Cancel and the
// calendar file. Every page works without JavaScript: plain forms (the day is a GET form, so the times
// page can be bookmarked and Back works), Post/Redirect/Get after each change. HTTP only: parse, call
// the booking service, render or redirect.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { InvalidInput } from '../../platform/errors.ts';
import type { FormErrors } from '../../platform/http/pages.ts';
import { recordAudit } from '../audit/audit.service.ts';
import type { KindHandler, KindRequestContext, KindRoute } from '../conversations/item-kinds.ts';
import { conversationPageContext } from '../conversations/conversation-pages.ts';
import type { BookingPayload } from './booking.kind.ts';
import type { AppointmentType, Location, SlotWithPlace } from './booking.repository.ts';
import {
  bookingOpen,
  bookTime,
  CANCEL_REASON_MAX,
  cancelByPatient,
  currentBooking,
  heldTime,
  holdTime,
  latestBooking,
  offeredDays,
  offeredSlots,
  type BookingDetails,
} from './booking.service.ts';
import { calendarDateInWords, dayInWords, isCalendarDate, londonDate, timeInWords } from './booking-times.ts';
import { bookingCalendarFile } from './calendar-file.ts';
import { MODE_WORDS } from './clinic-setup.service.ts';

type Context = KindRequestContext<BookingPayload>;

const VIEWS = {
  home: 'booking/views/patient-booking-home.njk',
  times: 'booking/views/patient-booking-times.njk',
  check: 'booking/views/patient-booking-check.njk',
  cancel: 'booking/views/patient-booking-cancel.njk',
  problem: 'booking/views/patient-booking-problem.njk',
} as const;

// Query flags that only choose what the page says; anything else in them is ignored, never an error.
const flag = z.literal('1').optional().catch(undefined);
const homeQuery = z.object({ booked: flag, cancelled: flag, change: flag, error: z.literal('date').optional().catch(undefined) });
const timesQuery = z.object({ date: z.string().max(20).optional().catch(undefined) });
const slotForm = z.object({
  slotId: z.string().max(100).optional().catch(undefined),
  date: z.string().max(20).optional().catch(undefined),
});
const cancelForm = z.object({ reason: z.string().max(20_000).optional().catch(undefined) });

const paths = (context: Context) => {
  const base = context.access.basePath;
  return {
    base,
    change: `${base}?change=1`,
    times: `${base}/appointment/times`,
    timesOn: (date: string) => `${base}/appointment/times?date=${encodeURIComponent(date)}`,
    check: `${base}/appointment/check`,
    confirm: `${base}/appointment/confirm`,
    cancel: `${base}/appointment/cancel`,
    calendar: `${base}/appointment/calendar.ics`,
  };
};

const timesWord = (n: number) => `${n} ${n === 1 ? 'time' : 'times'} available`;

/** What the summary list of an appointment shows, in words (the template lays it out). */
function appointmentWords(slot: SlotWithPlace, type: AppointmentType, location: Location) {
  return {
    typeName: type.name,
    day: dayInWords(slot.startsAt),
    time: timeInWords(slot.startsAt),
    lengthMinutes: Math.round((slot.endsAt.getTime() - slot.startsAt.getTime()) / 60_000),
    how: MODE_WORDS[type.mode as keyof typeof MODE_WORDS] ?? type.mode,
    locationName: location.name,
    address: location.address,
    phone: location.phone,
    clinicianName: slot.clinicianName,
    clinicianRole: slot.clinicianRole,
    patientInfo: type.patientInfo,
  };
}

function pageContext(context: Context) {
  return { ...conversationPageContext(context), typeName: context.conversation.payload.typeName, paths: paths(context) };
}

/** The number to call when the patient cannot do it online: the place's, else the organisation's. */
const phoneFor = (context: Context, details?: BookingDetails) => details?.location.phone || context.access.organisation.contactPhone;

/** Whether the patient may choose a (new) time now: booking still open, or a booking still changeable. */
function mayChoose(context: Context, current: BookingDetails | undefined, now: Date): boolean {
  if (!context.access.mayAnswer) return false;
  return current ? now < current.changeUntil : bookingOpen(context.services, context.conversation, now);
}

/** The days with free times, as radios; the time the patient has now is not offered again. */
async function dayChoices(context: Context, current: BookingDetails | undefined, now: Date) {
  const days = await offeredDays(context.services, context.conversation, now, current?.slot.id);
  return days.map(({ date, count }) => ({ value: date, text: calendarDateInWords(date), hint: { text: timesWord(count) } }));
}

export const bookingHome: KindHandler<BookingPayload> = async (request, reply, context) => {
  const query = homeQuery.parse(request.query ?? {});
  const now = context.services.now();
  const current = await currentBooking(context.services, context.conversation);
  const latest = current ?? (await latestBooking(context.services, context.conversation));
  const open = bookingOpen(context.services, context.conversation, now);
  const choosing = mayChoose(context, current, now) && (!current || query.change === '1');
  const errors: FormErrors | undefined = query.error === 'date' && choosing ? { date: { href: '#date', text: 'Select a day' } } : undefined;
  const days = choosing ? await dayChoices(context, current, now) : [];
  const noTimes = choosing && days.length === 0;
  return reply.page(
    VIEWS.home,
    {
      ...pageContext(context),
      pageTitle: !current && query.cancelled === '1'
        ? 'Your appointment has been cancelled'
        : noTimes
        ? current
          ? 'There are no other times left'
          : 'There are no times left to book'
        : current
        ? choosing
          ? 'Choose a new day'
          : query.booked === '1'
            ? 'Appointment booked'
            : 'Your appointment'
        : choosing
          ? 'Choose a day'
          : query.cancelled === '1'
            ? 'Your appointment has been cancelled'
            : 'The time to book online has ended',
      appointment: current ? appointmentWords(current.slot, current.type, current.location) : undefined,
      booked: Boolean(current) && query.booked === '1',
      mayChange: Boolean(current) && context.access.mayAnswer && now < current!.changeUntil,
      changing: Boolean(current) && choosing,
      cancelled: !current && query.cancelled === '1' && latest?.booking.cancelledAt ? appointmentWords(latest.slot, latest.type, latest.location) : undefined,
      choosing,
      days,
      closed: !current && (!open || !context.access.mayAnswer),
      phone: phoneFor(context, current),
      errors,
    },
    { status: errors ? 400 : 200 },
  );
};

/** The times page of one day: its free times as radios (with an error, after a refused choice). */
async function renderTimes(reply: FastifyReply, context: Context, date: string, options: { error?: string; status?: number; heading?: string } = {}) {
  const now = context.services.now();
  const current = await currentBooking(context.services, context.conversation);
  const slots = await offeredSlots(context.services, context.conversation, now, date, current?.slot.id);
  const p = paths(context);
  return reply.page(
    VIEWS.times,
    {
      ...pageContext(context),
      pageTitle: options.heading ?? 'Choose a time',
      heading: options.heading,
      date,
      dayWords: calendarDateInWords(date),
      times: slots.map((s) => ({ value: s.id, text: timeInWords(s.startsAt), hint: { text: `${s.clinicianName}, ${s.clinicianRole}, at ${s.locationName}` } })),
      errors: options.error ? { slotId: { href: slots.length > 0 ? '#slotId' : '#other-day', text: options.error } } : undefined,
      backHref: current ? p.change : p.base,
    },
    { status: options.status ?? 200 },
  );
}

/** A page explaining why it cannot be done online, and whom to call. */
function renderProblem(reply: FastifyReply, context: Context, problem: 'too_late' | 'closed' | 'too_many_holds', status: number, details?: BookingDetails) {
  const headings = {
    too_late: 'It is too late to change or cancel this appointment online',
    closed: 'The time to book online has ended',
    too_many_holds: 'You cannot choose another time online',
  } as const;
  return reply.page(
    VIEWS.problem,
    { ...pageContext(context), pageTitle: headings[problem], heading: headings[problem], problem, phone: phoneFor(context, details) },
    { status },
  );
}

const notChoosing = (reply: FastifyReply, context: Context) => reply.redirect(context.access.basePath, 303);

const badDay = (reply: FastifyReply, context: Context, current: BookingDetails | undefined) =>
  reply.redirect(`${context.access.basePath}?${current ? 'change=1&' : ''}error=date`, 303);

const timesGet: KindHandler<BookingPayload> = async (request, reply, context) => {
  const { date } = timesQuery.parse(request.query ?? {});
  const now = context.services.now();
  const current = await currentBooking(context.services, context.conversation);
  if (!mayChoose(context, current, now)) return notChoosing(reply, context);
  if (!date || !isCalendarDate(date)) return badDay(reply, context, current);
  return renderTimes(reply, context, date);
};

const timesPost: KindHandler<BookingPayload> = async (request, reply, context) => {
  const form = slotForm.parse(request.body ?? {});
  const now = context.services.now();
  const current = await currentBooking(context.services, context.conversation);
  if (!mayChoose(context, current, now)) return notChoosing(reply, context);
  if (!form.date || !isCalendarDate(form.date)) return badDay(reply, context, current);
  if (!form.slotId) return renderTimes(reply, context, form.date, { error: 'Select a time', status: 400 });
  const result = await holdTime(context.services, context.conversation, form.slotId);
  if ('held' in result) return reply.redirect(paths(context).check, 303);
  switch (result.refused) {
    case 'taken':
      return renderTimes(reply, context, form.date, { error: 'That time has just been booked by someone else. Choose another time.', status: 409 });
    case 'not_offered':
      return renderTimes(reply, context, form.date, { error: 'Select a time', status: 400 });
    case 'too_many_holds':
      return renderProblem(reply, context, 'too_many_holds', 429, current);
  }
};

const checkGet: KindHandler<BookingPayload> = async (_request, reply, context) => {
  const now = context.services.now();
  const current = await currentBooking(context.services, context.conversation);
  if (!mayChoose(context, current, now)) return notChoosing(reply, context);
  const held = await heldTime(context.services, context.conversation, now);
  if (!held || held.slot.id === current?.slot.id) return reply.redirect(context.access.basePath, 303);
  const date = londonDate(held.slot.startsAt);
  return reply.page(VIEWS.check, {
    ...pageContext(context),
    pageTitle: 'Check your appointment',
    appointment: appointmentWords(held.slot, held.type, held.location),
    changingFrom: current ? appointmentWords(current.slot, current.type, current.location) : undefined,
    keptUntil: timeInWords(held.hold.expiresAt),
    slotId: held.slot.id,
    date,
    backHref: paths(context).timesOn(date),
  });
};

const confirmPost: KindHandler<BookingPayload> = async (request, reply, context) => {
  if (!context.access.mayAnswer) return notChoosing(reply, context);
  const form = slotForm.parse(request.body ?? {});
  const date = form.date && isCalendarDate(form.date) ? form.date : undefined;
  const result = await bookTime(context.services, { invitation: context.conversation, slotId: form.slotId ?? '', actor: context.access.actor, subject: context.access.subject });
  if ('booked' in result) return reply.redirect(`${context.access.basePath}?booked=1`, 303);
  if ('alreadyBooked' in result) return reply.redirect(context.access.basePath, 303);
  switch (result.refused) {
    case 'taken':
      if (!date) return badDay(reply, context, await currentBooking(context.services, context.conversation));
      // The page's heading says what happened; the times still free that day are right below it.
      return renderTimes(reply, context, date, { heading: 'That time has just been booked by someone else', status: 409 });
    case 'not_offered':
      if (!date) return badDay(reply, context, await currentBooking(context.services, context.conversation));
      return renderTimes(reply, context, date, { error: 'That time is no longer available. Choose another time.', status: 400 });
    case 'closed':
      return renderProblem(reply, context, 'closed', 409);
    case 'too_late_to_change':
      return renderProblem(reply, context, 'too_late', 409, await currentBooking(context.services, context.conversation));
  }
};

function renderCancel(reply: FastifyReply, context: Context, current: BookingDetails, options: { reason?: string; error?: string } = {}) {
  return reply.page(
    VIEWS.cancel,
    {
      ...pageContext(context),
      pageTitle: 'Cancel your appointment',
      appointment: appointmentWords(current.slot, current.type, current.location),
      reasonMax: CANCEL_REASON_MAX,
      reason: options.reason,
      errors: options.error ? { reason: { href: '#reason', text: options.error } } : undefined,
      backHref: context.access.basePath,
    },
    { status: options.error ? 400 : 200 },
  );
}

const cancelGet: KindHandler<BookingPayload> = async (_request, reply, context) => {
  const current = await currentBooking(context.services, context.conversation);
  if (!current || !context.access.mayAnswer) return reply.redirect(context.access.basePath, 303);
  if (context.services.now() >= current.changeUntil) return renderProblem(reply, context, 'too_late', 200, current);
  return renderCancel(reply, context, current);
};

const cancelPost: KindHandler<BookingPayload> = async (request, reply, context) => {
  if (!context.access.mayAnswer) return notChoosing(reply, context);
  const { reason } = cancelForm.parse(request.body ?? {});
  try {
    const result = await cancelByPatient(context.services, { invitation: context.conversation, reason, actor: context.access.actor, subject: context.access.subject });
    if ('cancelled' in result) return reply.redirect(`${context.access.basePath}?cancelled=1`, 303);
    if (result.refused === 'too_late') return renderProblem(reply, context, 'too_late', 409, await currentBooking(context.services, context.conversation));
    return reply.redirect(context.access.basePath, 303);
  } catch (error) {
    // The reason is the only thing the patient typed: say what is wrong with it next to it.
    if (!(error instanceof InvalidInput)) throw error;
    const current = await currentBooking(context.services, context.conversation);
    if (!current) return reply.redirect(context.access.basePath, 303);
    return renderCancel(reply, context, current, { reason: reason?.slice(0, CANCEL_REASON_MAX * 2), error: error.message });
  }
};

const calendarGet: KindHandler<BookingPayload> = async (_request, reply, context) => {
  const latest = await latestBooking(context.services, context.conversation);
  if (!latest) {
    reply.callNotFound();
    return reply;
  }
  const file = bookingCalendarFile(latest, { name: context.access.organisation.name }, context.services.now());
  await recordAudit(context.services.db, {
    type: 'booking.calendar_downloaded',
    actor: context.access.actor,
    ...context.access.subject,
    details: { bookingId: latest.booking.id, cancelled: latest.booking.cancelledAt !== null },
  });
  return reply
    .header('content-type', 'text/calendar; charset=utf-8')
    .header('content-disposition', 'attachment; filename="appointment.ics"')
    .header('cache-control', 'no-store')
    .send(file);
};

export const bookingPatientRoutes: readonly KindRoute<BookingPayload>[] = [
  { method: 'GET', path: '/appointment/times', handler: timesGet },
  { method: 'POST', path: '/appointment/times', handler: timesPost },
  { method: 'GET', path: '/appointment/check', handler: checkGet },
  { method: 'POST', path: '/appointment/confirm', handler: confirmPost },
  { method: 'GET', path: '/appointment/cancel', handler: cancelGet },
  { method: 'POST', path: '/appointment/cancel', handler: cancelPost },
  { method: 'GET', path: '/appointment/calendar.ics', handler: calendarGet },
];
