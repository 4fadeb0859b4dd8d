// "When can I try again?" in words people use: "in 45 seconds", "after 10:31am".
const clock = new Intl.DateTimeFormat('en-GB', { hour: 'numeric', minute: '2-digit', hour12: true, timeZone: 'Europe/London' });
const day = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', timeZone: 'Europe/London' });

export interface WaitDescription {
  /** "45 seconds", "1 minute", "28 minutes", "3 hours" */
  waitText: string;
  /** "10:31am", or "10:31am on 27 November" when that is not today */
  clockTime: string;
  retryAfterSeconds: number;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

export function describeWait(now: Date, until: Date): WaitDescription {
  const seconds = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  let waitText: string;
  if (seconds < 60) waitText = plural(seconds, 'second');
  else if (seconds < 3600) waitText = plural(Math.ceil(seconds / 60), 'minute');
  else waitText = plural(Math.ceil(seconds / 3600), 'hour');
  const time = clock.format(until).replace(/\s/g, '').toLowerCase();
  const clockTime = day.format(until) === day.format(now) ? time : `${time} on ${day.format(until)}`;
  return { waitText, clockTime, retryAfterSeconds: seconds };
}
