// Times for booking. Staff think in London calendar dates and wall-clock times ("Tuesdays 9:00 to
// 12:00"); the database keeps UTC instants. A slot's instants are worked out on its own day, so a
// session on the last Sunday of March or October starts at 9:00 on the clock that day, and slots are
// real lengths of time: a session across 1:00–2:00 on the day the clocks go forward is an hour shorter.

const londonParts = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/London',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

/** A London calendar date 'YYYY-MM-DD' and wall-clock time 'HH:MM' as they would read at `at`. */
export function londonDateTime(at: Date): { date: string; time: string } {
  const p = Object.fromEntries(londonParts.formatToParts(at).map((part) => [part.type, part.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

export function londonDate(at: Date): string {
  return londonDateTime(at).date;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * A real calendar date 'YYYY-MM-DD' between 2000 and 2100: far enough for any clinic, near enough that
 * date arithmetic and London's time zone rules (which the runtime knows for these years) always work.
 */
export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m || Number(m[1]) < 2000 || Number(m[1]) > 2100) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

export function isWallClockTime(value: string): boolean {
  return TIME.test(value);
}

/** 'YYYY-MM-DD' plus n days (calendar arithmetic, no time zone involved). */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** Whole days from a to b ('YYYY-MM-DD'). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

/**
 * The instant London's clocks show `time` on `date`, or undefined when that time does not happen (the
 * hour skipped when the clocks go forward). When it happens twice (the hour repeated in October) this
 * is the first of the two, as people mean it.
 */
export function londonInstant(date: string, time: string): Date | undefined {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = time.split(':').map(Number) as [number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  // London is UTC+0 or UTC+1: of the two candidates, keep those that London shows as asked.
  for (const offsetHours of [1, 0]) {
    const candidate = new Date(asUtc - offsetHours * 3_600_000);
    const shown = londonDateTime(candidate);
    if (shown.date === date && shown.time === time) return candidate;
  }
  return undefined;
}

export interface SessionPattern {
  firstDate: string;
  lastDate: string;
  weekly: boolean;
  startTime: string;
  endTime: string;
  lengthMinutes: number;
}

/** The days a session runs on: its first date, and every 7 days after it up to its last if weekly. */
export function sessionDates(pattern: Pick<SessionPattern, 'firstDate' | 'lastDate' | 'weekly'>): string[] {
  if (!pattern.weekly) return [pattern.firstDate];
  const dates: string[] = [];
  for (let date = pattern.firstDate; date <= pattern.lastDate; date = addDays(date, 7)) dates.push(date);
  return dates;
}

/**
 * The slots of a session: back-to-back appointments of the type's length from the start to the end of
 * each day it runs. A start or end the clocks skip moves to the moment the clocks resume.
 */
export function sessionSlots(pattern: SessionPattern): Array<{ startsAt: Date; endsAt: Date }> {
  const slots: Array<{ startsAt: Date; endsAt: Date }> = [];
  const length = pattern.lengthMinutes * 60_000;
  for (const date of sessionDates(pattern)) {
    const start = londonInstant(date, pattern.startTime) ?? londonInstant(date, '02:00');
    const end = londonInstant(date, pattern.endTime) ?? londonInstant(date, '02:00');
    if (!start || !end) continue;
    for (let at = start.getTime(); at + length <= end.getTime(); at += length) {
      slots.push({ startsAt: new Date(at), endsAt: new Date(at + length) });
    }
  }
  return slots;
}

const timeWords = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: 'numeric', minute: '2-digit', hour12: true });
const dayWords = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDayWords = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long' });

/** NHS style: "9am", "9:30am", "12pm" (London time). */
export function timeInWords(at: Date): string {
  return timeWords.format(at).replace(':00', '').replace(/\s/g, '').toLowerCase();
}

/** "Tuesday 3 March 2026" (London time). */
export function dayInWords(at: Date): string {
  return dayWords.format(at).replace(',', '');
}

/** A London calendar date 'YYYY-MM-DD' as "Tuesday 3 March". */
export function calendarDateInWords(date: string): string {
  return shortDayWords.format(new Date(`${date}T12:00:00Z`)).replace(',', '');
}
