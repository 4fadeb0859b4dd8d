// London wall clock ↔ UTC for booking: ordinary days, and the last Sundays of March and October 2026
// (29 March: 1:00 GMT becomes 2:00 BST; 25 October: 2:00 BST becomes 1:00 GMT), the words texts use,
// and a property over random dates and times. Pure functions: no clock, no database.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addDays, calendarDateInWords, dayInWords, londonDateTime, londonInstant, sessionDates, sessionSlots, timeInWords, type SessionPattern } from './booking-times.ts';

const HOUR = 3_600_000;
const iso = (d: Date | undefined) => d?.toISOString();

function session(overrides: Partial<SessionPattern>): SessionPattern {
  return { firstDate: '2026-12-03', lastDate: '2026-12-03', weekly: false, startTime: '09:00', endTime: '12:00', lengthMinutes: 10, ...overrides };
}

test('londonInstant: 9:00 is 9:00 UTC in winter and 8:00 UTC in summer', () => {
  assert.equal(iso(londonInstant('2026-12-03', '09:00')), '2026-12-03T09:00:00.000Z');
  assert.equal(iso(londonInstant('2026-01-15', '09:00')), '2026-01-15T09:00:00.000Z');
  assert.equal(iso(londonInstant('2026-07-15', '09:00')), '2026-07-15T08:00:00.000Z');
  assert.equal(iso(londonInstant('2026-03-28', '09:00')), '2026-03-28T09:00:00.000Z', 'the day before the clocks go forward');
  assert.equal(iso(londonInstant('2026-03-29', '09:00')), '2026-03-29T08:00:00.000Z', 'the day they go forward');
  assert.equal(iso(londonInstant('2026-10-24', '09:00')), '2026-10-24T08:00:00.000Z', 'the day before they go back');
  assert.equal(iso(londonInstant('2026-10-25', '09:00')), '2026-10-25T09:00:00.000Z', 'the day they go back');
  assert.equal(iso(londonInstant('2026-07-15', '00:00')), '2026-07-14T23:00:00.000Z', 'London midnight in summer is the evening before in UTC');
});

test('londonInstant on the nights the clocks change: 1:30 does not happen in March, and is the first of two in October', () => {
  assert.equal(londonInstant('2026-03-29', '01:30'), undefined);
  assert.equal(londonInstant('2026-03-29', '01:00'), undefined);
  assert.equal(londonInstant('2026-03-29', '01:59'), undefined);
  assert.equal(iso(londonInstant('2026-03-29', '00:59')), '2026-03-29T00:59:00.000Z');
  assert.equal(iso(londonInstant('2026-03-29', '02:00')), '2026-03-29T01:00:00.000Z');
  assert.equal(iso(londonInstant('2026-10-25', '01:30')), '2026-10-25T00:30:00.000Z', 'the first 1:30 (BST)');
  assert.equal(iso(londonInstant('2026-10-25', '00:59')), '2026-10-24T23:59:00.000Z');
  assert.equal(iso(londonInstant('2026-10-25', '02:00')), '2026-10-25T02:00:00.000Z');
  // Both 1:30s read as 1:30 on the clock.
  assert.deepEqual(londonDateTime(new Date('2026-10-25T00:30:00Z')), { date: '2026-10-25', time: '01:30' });
  assert.deepEqual(londonDateTime(new Date('2026-10-25T01:30:00Z')), { date: '2026-10-25', time: '01:30' });
});

test('sessionDates: one day, or every 7 days up to and including the last', () => {
  assert.deepEqual(sessionDates({ firstDate: '2026-12-03', lastDate: '2026-12-31', weekly: false }), ['2026-12-03']);
  assert.deepEqual(sessionDates({ firstDate: '2026-12-03', lastDate: '2026-12-31', weekly: true }), ['2026-12-03', '2026-12-10', '2026-12-17', '2026-12-24', '2026-12-31']);
  assert.deepEqual(sessionDates({ firstDate: '2026-12-03', lastDate: '2026-12-30', weekly: true }), ['2026-12-03', '2026-12-10', '2026-12-17', '2026-12-24']);
  assert.deepEqual(sessionDates({ firstDate: '2026-03-22', lastDate: '2026-04-05', weekly: true }), ['2026-03-22', '2026-03-29', '2026-04-05'], 'across the clock change');
  assert.deepEqual(sessionDates({ firstDate: '2026-12-24', lastDate: '2027-01-07', weekly: true }), ['2026-12-24', '2026-12-31', '2027-01-07'], 'across the year');
});

test('sessionSlots on an ordinary day: back-to-back, from the start, none running past the end', () => {
  const slots = sessionSlots(session({}));
  assert.equal(slots.length, 18);
  assert.equal(iso(slots[0]!.startsAt), '2026-12-03T09:00:00.000Z');
  assert.equal(iso(slots.at(-1)!.endsAt), '2026-12-03T12:00:00.000Z');
  for (let i = 1; i < slots.length; i++) assert.equal(slots[i]!.startsAt.getTime(), slots[i - 1]!.endsAt.getTime());
  assert.equal(sessionSlots(session({ lengthMinutes: 25 })).length, 7, '7 × 25 minutes fit in 3 hours, the 8th would not');
  assert.equal(iso(sessionSlots(session({ firstDate: '2026-07-15', lastDate: '2026-07-15' }))[0]!.startsAt), '2026-07-15T08:00:00.000Z');
});

test('sessionSlots: a 00:30–03:00 session is 1.5 hours long on 29 March 2026 and 3.5 hours on 25 October 2026', () => {
  const march = sessionSlots(session({ firstDate: '2026-03-29', lastDate: '2026-03-29', startTime: '00:30', endTime: '03:00', lengthMinutes: 30 }));
  assert.equal(march.length, 3);
  assert.equal(march.at(-1)!.endsAt.getTime() - march[0]!.startsAt.getTime(), 1.5 * HOUR);
  assert.deepEqual(march.map((s) => iso(s.startsAt)), ['2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z']);
  assert.deepEqual(march.map((s) => londonDateTime(s.startsAt).time), ['00:30', '02:00', '02:30'], 'the clock jumps from 1:00 to 2:00');

  const october = sessionSlots(session({ firstDate: '2026-10-25', lastDate: '2026-10-25', startTime: '00:30', endTime: '03:00', lengthMinutes: 30 }));
  assert.equal(october.length, 7);
  assert.equal(october.at(-1)!.endsAt.getTime() - october[0]!.startsAt.getTime(), 3.5 * HOUR);
  assert.equal(iso(october[0]!.startsAt), '2026-10-24T23:30:00.000Z');
  assert.equal(iso(october.at(-1)!.endsAt), '2026-10-25T03:00:00.000Z');
  assert.deepEqual(october.map((s) => londonDateTime(s.startsAt).time), ['00:30', '01:00', '01:30', '01:00', '01:30', '02:00', '02:30'], 'the hour from 1:00 happens twice');
  // Real lengths of time, even across the change.
  for (const slot of [...march, ...october]) assert.equal(slot.endsAt.getTime() - slot.startsAt.getTime(), 30 * 60_000);
});

test('sessionSlots: a start or end in the skipped hour moves to 2:00, when the clocks resume', () => {
  const startsSkipped = sessionSlots(session({ firstDate: '2026-03-29', lastDate: '2026-03-29', startTime: '01:30', endTime: '03:00', lengthMinutes: 30 }));
  assert.deepEqual(startsSkipped.map((s) => iso(s.startsAt)), ['2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z']);
  const endsSkipped = sessionSlots(session({ firstDate: '2026-03-29', lastDate: '2026-03-29', startTime: '00:00', endTime: '01:30', lengthMinutes: 30 }));
  assert.deepEqual(endsSkipped.map((s) => iso(s.startsAt)), ['2026-03-29T00:00:00.000Z', '2026-03-29T00:30:00.000Z']);
});

test('weekly sessions across a clock change keep 9:00 London', () => {
  for (const [firstDate, lastDate, expectedUtcHours] of [
    ['2026-03-19', '2026-04-02', [9, 9, 8]],
    ['2026-03-22', '2026-04-05', [9, 8, 8]], // Sundays, the change day among them
    ['2026-10-15', '2026-11-05', [8, 8, 9, 9]],
    ['2026-10-18', '2026-11-01', [8, 9, 9]],
  ] as const) {
    const slots = sessionSlots(session({ firstDate, lastDate, weekly: true, startTime: '09:00', endTime: '09:30', lengthMinutes: 30 }));
    assert.equal(slots.length, expectedUtcHours.length, firstDate);
    assert.deepEqual(slots.map((s) => s.startsAt.getUTCHours()), [...expectedUtcHours], firstDate);
    assert.deepEqual(slots.map((s) => londonDateTime(s.startsAt).time), expectedUtcHours.map(() => '09:00'), firstDate);
    assert.deepEqual(slots.map((s) => londonDateTime(s.startsAt).date), sessionDates({ firstDate, lastDate, weekly: true }), firstDate);
  }
});

test('timeInWords: NHS style, London time', () => {
  assert.equal(timeInWords(new Date('2026-12-03T09:00:00Z')), '9am');
  assert.equal(timeInWords(new Date('2026-12-03T09:30:00Z')), '9:30am');
  assert.equal(timeInWords(new Date('2026-12-03T12:00:00Z')), '12pm');
  assert.equal(timeInWords(new Date('2026-12-03T12:45:00Z')), '12:45pm');
  assert.equal(timeInWords(new Date('2026-12-03T00:00:00Z')), '12am');
  assert.equal(timeInWords(new Date('2026-12-03T17:05:00Z')), '5:05pm');
  assert.equal(timeInWords(new Date('2026-07-15T08:30:00Z')), '9:30am', 'BST');
  assert.equal(timeInWords(new Date('2026-10-25T08:00:00Z')), '8am', 'GMT again after the change');
  assert.match(timeInWords(new Date('2026-12-03T15:10:00Z')), /^[0-9:apm]+$/, 'no (narrow no-break) spaces');
});

test('dayInWords and calendarDateInWords', () => {
  assert.equal(dayInWords(new Date('2026-12-03T09:30:00Z')), 'Thursday 3 December 2026');
  assert.equal(dayInWords(new Date('2026-12-08T09:30:00Z')), 'Tuesday 8 December 2026');
  assert.equal(dayInWords(new Date('2026-06-30T23:30:00Z')), 'Wednesday 1 July 2026', 'London is already the next day in summer');
  assert.equal(dayInWords(new Date('2026-12-31T23:30:00Z')), 'Thursday 31 December 2026', 'and not in winter');
  assert.equal(dayInWords(new Date('2026-03-29T01:00:00Z')), 'Sunday 29 March 2026');
  assert.equal(calendarDateInWords('2026-12-03'), 'Thursday 3 December');
  assert.equal(calendarDateInWords('2026-10-25'), 'Sunday 25 October');
});

/** The last Sunday of `month` (1–12) in `year`, worked out without time zones. */
function lastSunday(year: number, month: number): string {
  const last = new Date(Date.UTC(year, month, 0));
  return addDays(last.toISOString().slice(0, 10), -last.getUTCDay());
}

const dates = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2037-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
const times = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);

test('property: every London date and time that exists round-trips through londonInstant', () => {
  fc.assert(
    fc.property(dates, times, (date, time) => {
      const skipped = date === lastSunday(Number(date.slice(0, 4)), 3) && time.startsWith('01:');
      const at = londonInstant(date, time);
      if (skipped) return at === undefined;
      if (!at) return false;
      const back = londonDateTime(at);
      // London is UTC or an hour ahead of it, nothing else.
      const offset = Date.parse(`${date}T${time}:00Z`) - at.getTime();
      return back.date === date && back.time === time && (offset === 0 || offset === HOUR);
    }),
    { numRuns: 2000 },
  );
});

test('property: the only times that do not exist are 1:00–1:59 on the last Sunday of March', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2000, max: 2037 }), times, (year, time) => {
      const march = lastSunday(year, 3);
      const october = lastSunday(year, 10);
      const missing = londonInstant(march, time) === undefined;
      return missing === time.startsWith('01:') && londonInstant(october, time) !== undefined && londonInstant(addDays(march, 1), time) !== undefined;
    }),
  );
  assert.equal(lastSunday(2026, 3), '2026-03-29');
  assert.equal(lastSunday(2026, 10), '2026-10-25');
});
