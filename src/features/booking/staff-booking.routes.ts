// Staff pages for booking: setting up the clinic (clinicians, locations, appointment types, sessions),
// the diary (day and week, block and unblock a time), cancelling and moving a booking, and inviting a
// patient to book. HTTP only: parse, call one service function, render or redirect. The organisation
// always comes from the signed-in staff member, never from the form.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { InvalidInput } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { DailySendLimitReached } from '../conversations/send-limits.ts';
import { getPatientForStaff, messageLinkPreview, viewPatientForStaff } from '../messages/staff-compose.service.ts';
import { patientSummary } from '../messages/staff-words.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { DuplicateSubmission, duplicateRedirect, EXPIRED_FORM_MESSAGE, formSubmissionId, newSubmissionId, submissionResult, submittedId } from '../staff/staff-submissions.ts';
import { bookingKind } from './booking.kind.ts';
import type { DiarySlot, SlotWithPlace } from './booking.repository.ts';
import { cancelByStaff, moveByStaff, slotsByDay, SlotTaken, whenInWords } from './booking.service.ts';
import { addDays, calendarDateInWords, dayInWords, isCalendarDate, londonDate, timeInWords } from './booking-times.ts';
import { InvalidInvitation, invitationInput, sendInvitation, WINDOW_DEFAULT_WEEKS, WINDOW_MAX_WEEKS } from './booking-invitations.service.ts';
import {
  addAppointmentType,
  addClinician,
  addLocation,
  addSession,
  appointmentTypeInput,
  clinicianInput,
  locationInput,
  MODE_WORDS,
  sessionInput,
  setSlotBlock,
} from './clinic-setup.service.ts';
import { bookingForStaff, clinicSetUp, diaryDays, mondayOf, moveChoices, MOVE_WEEKS, viewDiary, type DiaryRange, type StaffBookingView } from './staff-booking.service.ts';

const VIEWS = {
  clinic: 'booking/views/staff-clinic.njk',
  clinicForm: 'booking/views/staff-clinic-form.njk',
  diary: 'booking/views/staff-diary.njk',
  cancel: 'booking/views/staff-cancel-booking.njk',
  move: 'booking/views/staff-move-booking.njk',
  invite: 'booking/views/staff-invite-to-book.njk',
};

type Body = Record<string, unknown>;
const str = (v: unknown, max = 2000): string => (typeof v === 'string' ? v.slice(0, max) : '');
const strings = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((s): s is string => typeof s === 'string').slice(0, 100);

/** The first message for each field, linked to the field's id (its name, as the views give it). */
function zodErrors(error: z.ZodError): FormErrors {
  const errors: FormErrors = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form');
    if (!errors[field]) errors[field] = { href: `#${field}`, text: issue.message };
  }
  return errors;
}

const uuidOrNone = z.string().refine(isUuid).optional().catch(undefined);
const diaryQuery = z.object({
  view: z.enum(['day', 'week']).catch('day'),
  date: z.string().refine(isCalendarDate).optional().catch(undefined),
  clinicianId: uuidOrNone,
  locationId: uuidOrNone,
  done: z.enum(['cancelled', 'moved', 'blocked', 'unblocked']).optional().catch(undefined),
});

function diaryRange(query: unknown, today: string): DiaryRange & { done?: string } {
  const q = diaryQuery.parse(query ?? {});
  return { view: q.view, date: q.date ?? today, clinicianId: q.clinicianId, locationId: q.locationId, done: q.done };
}

/** The diary's address for a range (only the values the diary understands, so never a redirect elsewhere). */
function diaryHref(range: DiaryRange, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ view: range.view, date: range.date });
  if (range.clinicianId) params.set('clinicianId', range.clinicianId);
  if (range.locationId) params.set('locationId', range.locationId);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return `/staff/diary?${params.toString()}`;
}

const slotParams = z.object({ slotId: z.string() });
const bookingParams = z.object({ bookingId: z.string() });
const patientParams = z.object({ patientId: z.string() });
const clinicQuery = z.object({
  added: z.enum(['clinician', 'location', 'type', 'session']).optional().catch(undefined),
  slots: z.coerce.number().int().min(0).optional().catch(undefined),
});

function slotStatus(slot: DiarySlot): { text: string; colour: string; state: 'booked' | 'blocked' | 'cancelled' | 'free' } {
  if (slot.bookingId) return { text: `Booked: ${slot.patientGivenName ?? ''} ${slot.patientFamilyName ?? ''}`.trim(), colour: 'blue', state: 'booked' };
  if (slot.blockedAt) return { text: 'Blocked', colour: 'grey', state: 'blocked' };
  if (slot.cancelledAt) return { text: 'Cancelled', colour: 'orange', state: 'cancelled' };
  return { text: 'Free', colour: 'green', state: 'free' };
}

const slotWords = (s: SlotWithPlace) => ({ id: s.id, time: timeInWords(s.startsAt), clinician: s.clinicianName, location: s.locationName });

function bookingSummary(view: StaffBookingView) {
  const { details, patient } = view;
  return {
    id: details.booking.id,
    patientName: `${patient.givenName} ${patient.familyName}`,
    when: whenInWords(details.booking.startsAt),
    type: details.type.name,
    clinician: `${details.slot.clinicianName} (${details.slot.clinicianRole})`,
    location: details.location.name,
    cancelled: details.booking.cancelledAt !== null,
    conversationHref: `/staff/conversations/${view.conversationId}`,
    diaryHref: diaryHref({ view: 'day', date: londonDate(details.booking.startsAt) }),
  };
}

export async function staffBookingRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const actorOf = (request: FastifyRequest) => {
    const staff = currentStaff(request);
    return { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip };
  };
  const today = () => londonDate(services.now());

  // ---- The clinic's set-up ----

  app.get('/staff/clinic', { preHandler: requirePermission('setUpClinics') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { added, slots } = clinicQuery.parse(request.query ?? {});
    const setUp = await clinicSetUp(services, staff.organisation.id);
    const name = <T extends { id: string; name: string }>(list: T[], id: string) => list.find((x) => x.id === id)?.name ?? '';
    const banners: Record<string, string> = {
      clinician: 'Clinician added',
      location: 'Location added',
      type: 'Appointment type added',
      session: `Session added: ${slots ?? 0} ${slots === 1 ? 'appointment' : 'appointments'}`,
    };
    return reply.page(VIEWS.clinic, {
      pageTitle: 'Clinic set-up',
      ...staffLayout(staff),
      banner: added ? banners[added] : undefined,
      clinicians: setUp.clinicians,
      locations: setUp.locations,
      types: setUp.types.map((t) => ({
        name: t.name,
        length: `${t.lengthMinutes} minutes`,
        mode: MODE_WORDS[t.mode as keyof typeof MODE_WORDS] ?? t.mode,
        cutoff: t.cancelCutoffMinutes === 0 ? 'None' : `${t.cancelCutoffMinutes} minutes before`,
      })),
      sessions: setUp.sessions.map((s) => ({
        clinician: name(setUp.clinicians, s.clinicianId),
        location: name(setUp.locations, s.locationId),
        type: name(setUp.types, s.appointmentTypeId),
        dates: s.weekly ? `${calendarDateInWords(s.firstDate)} to ${calendarDateInWords(s.lastDate)}` : calendarDateInWords(s.firstDate),
        year: s.firstDate.slice(0, 4),
        times: `${s.startTime} to ${s.endTime}`,
        weekly: s.weekly ? 'Yes' : 'No',
      })),
    });
  });

  interface SetUpForm {
    path: string;
    title: string;
    form: 'clinician' | 'location' | 'type' | 'session';
    values: (body: Body) => Record<string, string>;
    /** Parses and adds; returns the errors to show, or where to go. */
    add: (request: FastifyRequest, values: Record<string, string>) => Promise<{ errors: FormErrors } | { redirect: string }>;
  }

  async function formPage(request: FastifyRequest, reply: FastifyReply, form: SetUpForm, values: Record<string, string>, errors?: FormErrors) {
    const staff = currentStaff(request);
    const options = form.form === 'session' ? await clinicSetUp(services, staff.organisation.id) : undefined;
    const select = (list: Array<{ id: string; name: string }>, chosen: string | undefined) => [
      { value: '', text: 'Choose one', selected: !chosen },
      ...list.map((x) => ({ value: x.id, text: x.name, selected: x.id === chosen })),
    ];
    return reply.page(
      VIEWS.clinicForm,
      {
        pageTitle: form.title,
        ...staffLayout(staff),
        form: form.form,
        action: form.path,
        values,
        errors,
        modes: Object.entries(MODE_WORDS).map(([value, text]) => ({ value, text, checked: values.mode === value })),
        ...(options && {
          clinicianItems: select(options.clinicians, values.clinicianId),
          locationItems: select(options.locations, values.locationId),
          typeItems: select(options.types.map((t) => ({ id: t.id, name: `${t.name} (${t.lengthMinutes} minutes)` })), values.appointmentTypeId),
          missing: [options.clinicians.length === 0 && 'a clinician', options.locations.length === 0 && 'a location', options.types.length === 0 && 'an appointment type'].filter(Boolean),
        }),
      },
      { status: errors ? 400 : 200 },
    );
  }

  const setUpForms: SetUpForm[] = [
    {
      path: '/staff/clinic/clinicians/new',
      title: 'Add a clinician',
      form: 'clinician',
      values: (b) => ({ name: str(b.name, 500), role: str(b.role, 500) }),
      add: async (request, v) => {
        const parsed = clinicianInput.safeParse(v);
        if (!parsed.success) return { errors: zodErrors(parsed.error) };
        await addClinician(services, actorOf(request), parsed.data);
        return { redirect: '/staff/clinic?added=clinician' };
      },
    },
    {
      path: '/staff/clinic/locations/new',
      title: 'Add a location',
      form: 'location',
      values: (b) => ({ name: str(b.name, 500), address: str(b.address, 1000), phone: str(b.phone, 100) }),
      add: async (request, v) => {
        const parsed = locationInput.safeParse(v);
        if (!parsed.success) return { errors: zodErrors(parsed.error) };
        await addLocation(services, actorOf(request), parsed.data);
        return { redirect: '/staff/clinic?added=location' };
      },
    },
    {
      path: '/staff/clinic/appointment-types/new',
      title: 'Add an appointment type',
      form: 'type',
      values: (b) => ({
        name: str(b.name, 500),
        lengthMinutes: str(b.lengthMinutes, 20),
        mode: str(b.mode, 40),
        patientInfo: str(b.patientInfo, 2000),
        cancelCutoffMinutes: str(b.cancelCutoffMinutes, 20),
      }),
      add: async (request, v) => {
        const parsed = appointmentTypeInput.safeParse({
          ...v,
          mode: v.mode || undefined,
          // Left empty: the schema's default (60 minutes).
          cancelCutoffMinutes: v.cancelCutoffMinutes!.trim() === '' ? undefined : v.cancelCutoffMinutes,
          lengthMinutes: v.lengthMinutes!.trim() === '' ? undefined : v.lengthMinutes,
        });
        if (!parsed.success) return { errors: zodErrors(parsed.error) };
        await addAppointmentType(services, actorOf(request), parsed.data);
        return { redirect: '/staff/clinic?added=type' };
      },
    },
    {
      path: '/staff/clinic/sessions/new',
      title: 'Add a session',
      form: 'session',
      values: (b) => ({
        clinicianId: str(b.clinicianId, 100),
        locationId: str(b.locationId, 100),
        appointmentTypeId: str(b.appointmentTypeId, 100),
        firstDate: str(b.firstDate, 20),
        lastDate: str(b.lastDate, 20),
        weekly: b.weekly === 'yes' ? 'yes' : '',
        startTime: str(b.startTime, 10),
        endTime: str(b.endTime, 10),
      }),
      add: async (request, v) => {
        const parsed = sessionInput.safeParse({
          ...v,
          firstDate: v.firstDate!.trim() === '' ? undefined : v.firstDate,
          lastDate: v.lastDate!.trim() === '' ? undefined : v.lastDate,
          startTime: v.startTime!.trim() === '' ? undefined : v.startTime,
          endTime: v.endTime!.trim() === '' ? undefined : v.endTime,
          weekly: v.weekly === 'yes',
        });
        if (!parsed.success) return { errors: zodErrors(parsed.error) };
        try {
          const added = await addSession(services, actorOf(request), parsed.data);
          return { redirect: `/staff/clinic?added=session&slots=${added.slots}` };
        } catch (error) {
          if (!(error instanceof InvalidInput)) throw error;
          // The service's own checks: which of its choices is not the organisation's, or too few or many slots.
          const message = error.publicMessage;
          const field = message.includes('clinician') ? 'clinicianId' : message.includes('location') ? 'locationId' : message.includes('appointment type') ? 'appointmentTypeId' : 'endTime';
          return { errors: { [field]: { href: `#${field}`, text: message } } };
        }
      },
    },
  ];

  for (const form of setUpForms) {
    app.get(form.path, { preHandler: requirePermission('setUpClinics') }, async (request, reply) => {
      return formPage(request, reply, form, form.form === 'type' ? { cancelCutoffMinutes: '60' } : {});
    });
    app.post(form.path, { preHandler: requirePermission('setUpClinics') }, async (request, reply) => {
      const values = form.values((request.body ?? {}) as Body);
      const result = await form.add(request, values);
      if ('errors' in result) return formPage(request, reply, form, values, result.errors);
      return reply.redirect(result.redirect, 303);
    });
  }

  // ---- The diary ----

  app.get('/staff/diary', { preHandler: requirePermission('manageDiary') }, async (request, reply) => {
    const staff = currentStaff(request);
    const range = diaryRange(request.query, today());
    const [byDay, setUp] = await Promise.all([
      viewDiary(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, range }),
      clinicSetUp(services, staff.organisation.id),
    ]);
    const step = range.view === 'day' ? 1 : 7;
    const start = range.view === 'day' ? range.date : mondayOf(range.date);
    const days = diaryDays(range);
    const query = diaryHref(range).slice('/staff/diary'.length);
    return reply.page(VIEWS.diary, {
      pageTitle: 'Diary',
      ...staffLayout(staff),
      range,
      heading: range.view === 'day' ? dayInWords(new Date(`${range.date}T12:00:00Z`)) : `Week of ${dayInWords(new Date(`${start}T12:00:00Z`))}`,
      done: range.done,
      previousHref: diaryHref({ ...range, date: addDays(start, -step) }),
      nextHref: diaryHref({ ...range, date: addDays(start, step) }),
      previousText: range.view === 'day' ? 'Previous day' : 'Previous week',
      nextText: range.view === 'day' ? 'Next day' : 'Next week',
      otherViewHref: diaryHref({ ...range, view: range.view === 'day' ? 'week' : 'day' }),
      otherViewText: range.view === 'day' ? 'Show the week' : 'Show one day',
      clinicianItems: [{ value: '', text: 'All clinicians' }, ...setUp.clinicians.map((c) => ({ value: c.id, text: c.name, selected: c.id === range.clinicianId }))],
      locationItems: [{ value: '', text: 'All locations' }, ...setUp.locations.map((l) => ({ value: l.id, text: l.name, selected: l.id === range.locationId }))],
      days: days.map((date) => ({
        date,
        heading: dayInWords(new Date(`${date}T12:00:00Z`)),
        slots: (byDay.get(date) ?? []).map((s) => ({
          id: s.id,
          time: timeInWords(s.startsAt),
          clinician: s.clinicianName,
          location: s.locationName,
          type: s.appointmentTypeName,
          status: slotStatus(s),
          bookingId: s.bookingId,
          conversationHref: s.bookingConversationId ? `/staff/conversations/${s.bookingConversationId}` : undefined,
        })),
      })),
      blockQuery: query,
    });
  });

  for (const [action, blocked] of [
    ['block', true],
    ['unblock', false],
  ] as const) {
    app.post(`/staff/diary/slots/:slotId/${action}`, { preHandler: requirePermission('manageDiary') }, async (request, reply) => {
      const { slotId } = slotParams.parse(request.params);
      const slot = await setSlotBlock(services, actorOf(request), slotId, blocked);
      const range = diaryRange(request.query, londonDate(slot.startsAt));
      return reply.redirect(diaryHref(range, { done: blocked ? 'blocked' : 'unblocked' }), 303);
    });
  }

  // ---- Cancelling and moving a booking ----

  async function cancelPage(request: FastifyRequest, reply: FastifyReply, view: StaffBookingView, values: { reason: string }, errors?: FormErrors) {
    return reply.page(
      VIEWS.cancel,
      { pageTitle: 'Cancel an appointment', ...staffLayout(currentStaff(request)), booking: bookingSummary(view), values, errors },
      { status: errors ? 400 : 200 },
    );
  }

  app.get('/staff/bookings/:bookingId/cancel', { preHandler: requirePermission('manageDiary') }, async (request, reply) => {
    const { bookingId } = bookingParams.parse(request.params);
    const view = await bookingForStaff(services, currentStaff(request).organisation.id, bookingId);
    return cancelPage(request, reply, view, { reason: '' });
  });

  app.post('/staff/bookings/:bookingId/cancel', { preHandler: requirePermission('manageDiary') }, async (request, reply) => {
    const { bookingId } = bookingParams.parse(request.params);
    const actor = actorOf(request);
    const view = await bookingForStaff(services, actor.organisationId, bookingId);
    const reason = str(((request.body ?? {}) as Body).reason, 2000);
    try {
      const cancelled = await cancelByStaff(services, { ...actor, bookingId: view.details.booking.id, reason });
      return reply.redirect(diaryHref({ view: 'day', date: londonDate(cancelled.booking.startsAt) }, { done: 'cancelled' }), 303);
    } catch (error) {
      if (!(error instanceof InvalidInput)) throw error;
      return cancelPage(request, reply, await bookingForStaff(services, actor.organisationId, bookingId), { reason }, { reason: { href: '#reason', text: error.publicMessage } });
    }
  });

  async function movePage(request: FastifyRequest, reply: FastifyReply, view: StaffBookingView, values: { slotId: string }, errors?: FormErrors, status = 200) {
    const choices = view.details.booking.cancelledAt ? [] : await moveChoices(services, view, services.now());
    const days = [...slotsByDay(choices)].map(([date, slots], i) => ({
      date,
      idPrefix: i === 0 ? 'slotId' : `slotId-${date}`,
      heading: calendarDateInWords(date),
      items: slots.map((s) => {
        const w = slotWords(s);
        return { value: w.id, text: w.time, hint: { text: `${w.clinician}, ${w.location}` }, checked: values.slotId === w.id };
      }),
    }));
    return reply.page(
      VIEWS.move,
      { pageTitle: 'Move an appointment', ...staffLayout(currentStaff(request)), booking: bookingSummary(view), days, weeks: MOVE_WEEKS, values, errors },
      { status: errors ? status : 200 },
    );
  }

  app.get('/staff/bookings/:bookingId/move', { preHandler: requirePermission('manageDiary') }, async (request, reply) => {
    const { bookingId } = bookingParams.parse(request.params);
    const view = await bookingForStaff(services, currentStaff(request).organisation.id, bookingId);
    return movePage(request, reply, view, { slotId: '' });
  });

  app.post('/staff/bookings/:bookingId/move', { preHandler: requirePermission('manageDiary') }, async (request, reply) => {
    const { bookingId } = bookingParams.parse(request.params);
    const actor = actorOf(request);
    const view = await bookingForStaff(services, actor.organisationId, bookingId);
    const slotId = str(((request.body ?? {}) as Body).slotId, 100);
    if (slotId === '') return movePage(request, reply, view, { slotId }, { slotId: { href: '#slotId', text: 'Select a new time' } }, 400);
    try {
      const moved = await moveByStaff(services, { ...actor, bookingId: view.details.booking.id, slotId });
      return reply.redirect(diaryHref({ view: 'day', date: londonDate(moved.booking.startsAt) }, { done: 'moved' }), 303);
    } catch (error) {
      if (error instanceof SlotTaken) return movePage(request, reply, view, { slotId: '' }, { slotId: { href: '#slotId', text: error.publicMessage } }, 409);
      if (error instanceof InvalidInput) return movePage(request, reply, view, { slotId: '' }, { slotId: { href: '#slotId', text: error.publicMessage } }, 400);
      throw error;
    }
  });

  // ---- Inviting a patient to book ----

  const sentPage = (conversationId: string) => `/staff/conversations/${conversationId}?done=sent`;

  async function invitePage(
    request: FastifyRequest,
    reply: FastifyReply,
    patientId: string,
    form: { values: { appointmentTypeId: string; clinicianIds: string[]; earliest: string; latest: string }; submissionId: string; alreadySent?: string | null; errors?: FormErrors; sendLimit?: { limit: string } },
    status = 200,
  ) {
    const staff = currentStaff(request);
    const patient = await viewPatientForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, patientId });
    const setUp = await clinicSetUp(services, staff.organisation.id);
    return reply.page(
      VIEWS.invite,
      {
        pageTitle: 'Invite to book an appointment',
        ...staffLayout(staff),
        patient: patientSummary(patient),
        preview: messageLinkPreview(staff.organisation.name, services.config.publicBaseUrl, bookingKind.words),
        typeItems: setUp.types.map((t) => ({
          value: t.id,
          text: t.name,
          hint: { text: `${t.lengthMinutes} minutes, ${(MODE_WORDS[t.mode as keyof typeof MODE_WORDS] ?? t.mode).toLowerCase()}` },
          checked: form.values.appointmentTypeId === t.id,
        })),
        clinicianItems: setUp.clinicians.map((c) => ({ value: c.id, text: c.name, hint: { text: c.role }, checked: form.values.clinicianIds.includes(c.id) })),
        maxWeeks: WINDOW_MAX_WEEKS,
        bookForDays: services.config.booking.linkTtlDays,
        ...form,
      },
      { status },
    );
  }

  app.get('/staff/patients/:patientId/booking', { preHandler: requirePermission('send') }, async (request, reply) => {
    const { patientId } = patientParams.parse(request.params);
    const earliest = today();
    const submissionId = formSubmissionId(request.query);
    const alreadySent = await submissionResult(services.db, currentStaff(request).user.id, submissionId);
    return invitePage(request, reply, patientId, { values: { appointmentTypeId: '', clinicianIds: [], earliest, latest: addDays(earliest, WINDOW_DEFAULT_WEEKS * 7 - 1) }, submissionId, alreadySent });
  });

  app.post('/staff/patients/:patientId/booking', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { patientId } = patientParams.parse(request.params);
    const body = (request.body ?? {}) as Body;
    const values = { appointmentTypeId: str(body.appointmentTypeId, 100), clinicianIds: strings(body.clinicianIds), earliest: str(body.earliest, 20), latest: str(body.latest, 20) };
    const submissionId = submittedId(body);
    if (!submissionId) {
      return invitePage(request, reply, patientId, { values, submissionId: newSubmissionId(), errors: { appointmentTypeId: { href: '#appointmentTypeId', text: EXPIRED_FORM_MESSAGE } } }, 400);
    }
    const parsed = invitationInput.safeParse({ ...values, appointmentTypeId: values.appointmentTypeId || undefined });
    if (!parsed.success) return invitePage(request, reply, patientId, { values, submissionId, errors: zodErrors(parsed.error) }, 400);
    const patient = await getPatientForStaff(services.db, staff.organisation.id, patientId);
    try {
      const sent = await sendInvitation(services, {
        organisationId: staff.organisation.id,
        patient,
        invitation: parsed.data,
        sentBy: { staffId: staff.user.id },
        ip: request.ip,
        submission: { staffUserId: staff.user.id, submissionId, resultUrl: sentPage },
      });
      return reply.redirect(sentPage(sent.conversationId), 303);
    } catch (error) {
      if (error instanceof DuplicateSubmission) return reply.redirect(duplicateRedirect(error), 303);
      if (error instanceof InvalidInvitation) {
        return invitePage(request, reply, patientId, { values, submissionId, errors: { [error.field]: { href: `#${error.field}`, text: error.publicMessage } } }, 400);
      }
      if (!(error instanceof DailySendLimitReached)) throw error;
      reply.header('Retry-After', String(error.retryAfterSeconds));
      return invitePage(request, reply, patientId, { values, submissionId, sendLimit: { limit: error.limit.toLocaleString('en-GB') } }, 429);
    }
  });
}
