// The UK day (Europe/London) an instant falls in: daily limits reset at midnight where the
// organisations are, not at midnight UTC, and a day is 23 or 25 hours long when the clocks change.
const londonParts = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/London',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** London's wall-clock time at `at`, read as if it were UTC: the difference is London's offset. */
function londonWallClockAsUtc(at: Date): { ms: number; year: number; month: number; day: number } {
  const parts = Object.fromEntries(londonParts.formatToParts(at).map((p) => [p.type, p.value]));
  const [year, month, day] = [Number(parts.year), Number(parts.month), Number(parts.day)];
  return { ms: Date.UTC(year, month - 1, day, Number(parts.hour), Number(parts.minute), Number(parts.second)), year, month, day };
}

/** The instant London's clocks show midnight starting this calendar date (month 1–12; day may overflow). */
function londonMidnight(year: number, month: number, day: number): Date {
  const utcMidnight = Date.UTC(year, month - 1, day);
  // The UK changes its clocks at 01:00 UTC, never around midnight, so the offset at UTC midnight is
  // the offset at London's midnight.
  const offset = londonWallClockAsUtc(new Date(utcMidnight)).ms - utcMidnight;
  return new Date(utcMidnight - offset);
}

/** The UK day `at` falls in: [start, end), London midnight to the next London midnight. */
export function ukDayBounds(at: Date): { start: Date; end: Date } {
  const { year, month, day } = londonWallClockAsUtc(at);
  return { start: londonMidnight(year, month, day), end: londonMidnight(year, month, day + 1) };
}
