// A booking as an RFC 5545 calendar file (.ics), for the patient's own calendar. Written by hand: the
// format needed is small and fixed, and the libraries that emit VTIMEZONE need a second package of
// time-zone data plus a date library. The file is checked against a real parser (ical.js) in tests.
//
// - One event per invitation (UID from the conversation): a change of time is a newer SEQUENCE of the
//   same event, so calendars move it rather than adding a second; a cancellation is METHOD:CANCEL with
//   a higher SEQUENCE still (cancelBookingRow bumps it).
// - Times are London wall-clock with TZID=Europe/London and the zone's own VTIMEZONE, so the event
//   stays at "9:30am" for the patient whatever their device's zone is.
import type { BookingDetails } from './booking.service.ts';
import { londonDateTime } from './booking-times.ts';

const CRLF = '\r\n';
const FOLD_OCTETS = 75;

/** TEXT value escaping (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines. */
export function escapeText(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n');
}

/**
 * Folds a content line at 75 octets (§3.1): continuation lines start with one space, which counts
 * towards their 75. Never splits a UTF-8 character (code points are kept whole).
 */
export function foldLine(line: string): string {
  const out: string[] = [];
  let current = '';
  let octets = 0;
  for (const ch of line) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (octets + size > FOLD_OCTETS) {
      out.push(current);
      current = ' ';
      octets = 1;
    }
    current += ch;
    octets += size;
  }
  out.push(current);
  return out.join(CRLF);
}

/** 20261203T093000Z */
function utcStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * ';TZID=Europe/London:20261203T093000', London wall clock; or ':20261025T013000Z' for a 1:xx of the
 * night the clocks go back, which happens twice. RFC 5545 §3.3.5 says such a local time is the first,
 * but parsers differ (ical.js reads the second), so those are written as the instant itself.
 */
function dateTimeValue(at: Date): string {
  const { date, time } = londonDateTime(at);
  const happensTwice = [-3_600_000, 3_600_000].some((shift) => {
    const other = londonDateTime(new Date(at.getTime() + shift));
    return other.date === date && other.time === time;
  });
  if (happensTwice) return `:${utcStamp(at)}`;
  return `;TZID=Europe/London:${date.replace(/-/g, '')}T${time.replace(':', '')}00`;
}

// Europe/London since 1996: BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
// Sunday of October. DTSTARTs are local times of the zone before each change (§3.6.5).
const LONDON_VTIMEZONE = [
  'BEGIN:VTIMEZONE',
  'TZID:Europe/London',
  'BEGIN:DAYLIGHT',
  'TZOFFSETFROM:+0000',
  'TZOFFSETTO:+0100',
  'TZNAME:BST',
  'DTSTART:19700329T010000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU',
  'END:DAYLIGHT',
  'BEGIN:STANDARD',
  'TZOFFSETFROM:+0100',
  'TZOFFSETTO:+0000',
  'TZNAME:GMT',
  'DTSTART:19701025T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU',
  'END:STANDARD',
  'END:VTIMEZONE',
];

/** True when the booking was cancelled (not merely replaced by a change of time). */
function isCancelled(details: BookingDetails): boolean {
  return details.booking.cancelledAt !== null && details.booking.cancelledBy !== 'changed';
}

function whereText(details: BookingDetails): string {
  if (details.type.mode === 'telephone') return 'Telephone appointment';
  if (details.type.mode === 'video') return 'Video appointment';
  return [details.location.name, details.location.address].filter((part) => part.trim() !== '').join(', ');
}

function descriptionText(details: BookingDetails, organisation: { name: string }): string {
  const phone = details.location.phone;
  const parts = [`With ${details.slot.clinicianName} (${details.slot.clinicianRole}), ${organisation.name}.`];
  if (details.type.patientInfo.trim()) parts.push(`What to know: ${details.type.patientInfo.trim()}`);
  parts.push(
    phone
      ? `To change or cancel it, use the link we sent you by text or call ${phone}.`
      : 'To change or cancel it, use the link we sent you by text.',
  );
  return parts.join('\n\n');
}

/** The calendar file for a booking; `now` is its DTSTAMP. */
export function bookingCalendarFile(details: BookingDetails, organisation: { name: string }, now: Date): string {
  const cancelled = isCancelled(details);
  const { booking } = details;
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Dovecote//Booking//EN',
    'CALSCALE:GREGORIAN',
    `METHOD:${cancelled ? 'CANCEL' : 'PUBLISH'}`,
    ...LONDON_VTIMEZONE,
    'BEGIN:VEVENT',
    `UID:booking-${booking.conversationId}@dovecote`,
    `DTSTAMP:${utcStamp(now)}`,
    `SEQUENCE:${booking.sequence}`,
    `DTSTART${dateTimeValue(booking.startsAt)}`,
    `DTEND${dateTimeValue(booking.endsAt)}`,
    `SUMMARY:${escapeText(`${details.type.name} with ${organisation.name}`)}`,
    `LOCATION:${escapeText(whereText(details))}`,
    `DESCRIPTION:${escapeText(descriptionText(details, organisation))}`,
    `STATUS:${cancelled ? 'CANCELLED' : 'CONFIRMED'}`,
    'TRANSP:OPAQUE',
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return lines.map(foldLine).join(CRLF) + CRLF;
}
