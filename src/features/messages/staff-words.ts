// The words staff see for reply modes, text message statuses and link events, in one place so the
// inbox and the conversation page say the same thing.
import type { Patient } from '../patients/patients.service.ts';
import { SMS_HELD_BY_PROVIDER } from '../sms/outbox.repository.ts';

export { REPLY_MODE_WORDS } from './message.kind.ts';

export interface StatusWords {
  text: string;
  /** nhsuk-tag colour modifier. */
  colour: 'grey' | 'blue' | 'green' | 'red' | 'white';
  reason?: string;
}

export function smsStatusWords(status: string | null): StatusWords {
  switch (status) {
    case 'queued':
      return { text: 'Queued', colour: 'grey' };
    case 'sending':
      return { text: 'Sending', colour: 'grey' };
    case SMS_HELD_BY_PROVIDER:
      // Our text service refused our own set-up (its key, its template): not the patient's number, and
      // the text goes by itself once that is fixed, so staff should not re-send or check the number.
      return {
        text: 'Not sent yet',
        colour: 'red',
        reason: 'There is a problem with our text service. The text will be sent when the problem is fixed. You do not need to send it again.',
      };
    case 'sent':
      return { text: 'Sent', colour: 'blue' };
    case 'delivered':
      return { text: 'Delivered', colour: 'green' };
    case 'permanent_failure':
      return {
        text: 'Not delivered',
        colour: 'red',
        reason: 'The number does not exist or cannot receive text messages. Check the patient’s mobile number.',
      };
    case 'temporary_failure':
      return {
        text: 'Not delivered',
        colour: 'red',
        reason: 'The phone was switched off or had no signal for too long. You can re-send the link.',
      };
    case 'technical_failure':
      return {
        text: 'Not delivered',
        colour: 'red',
        reason: 'There was a problem with the text message service. You can re-send the link.',
      };
    case null:
      return { text: 'No text message', colour: 'white' };
    default:
      return { text: status, colour: 'grey' };
  }
}

export const SMS_KIND_WORDS: Record<string, string> = {
  message_link: 'Link to the message',
  security_code: 'Security code',
  reminder: 'Reminder with a new link',
  staff_reply: 'Reply sent, with a new link',
};

/** Audit event types shown on the conversation page, and how staff read them. */
export const LINK_EVENT_WORDS: Record<string, string> = {
  'message.sent': 'Message sent',
  'link.opened': 'Link opened',
  'link.dob_wrong': 'Date of birth entered wrongly',
  'link.dob_right': 'Date of birth entered correctly',
  'link.locked': 'Link locked',
  'link.revoked': 'Link revoked',
  'code.sent': 'Security code sent',
  'code.wrong': 'Security code entered wrongly',
  'code.right': 'Security code entered correctly',
  'code.burned': 'Security code cancelled after too many wrong tries',
  'device.trusted': 'Device trusted',
  'message.read': 'Message read',
  'reply.sent': 'Patient replied',
  'message.staff_replied': 'Staff replied, with a new link',
  'api.message_viewed': 'Viewed through the API',
  'questionnaire.reminder_sent': 'Reminder sent with a new link',
  // NHS login from the link (verification): the identity matched, did not match, or was not proven enough.
  'nhs_login.verified': 'Patient confirmed who they are with NHS login',
  'nhs_login.mismatch': 'NHS login details did not match this patient',
  'nhs_login.not_strong': 'NHS login identity not checked strongly enough to open it',
};

const londonTime = new Intl.DateTimeFormat('en-GB', { hour: 'numeric', minute: '2-digit', hour12: true, timeZone: 'Europe/London' });

/** "10:32am", London time (NHS style: no space, lower case). */
export function timeWords(at: Date): string {
  return londonTime.format(at).replace(/\s/g, '').toLowerCase();
}

export interface LinkActivityRow {
  occurredAt: Date;
  text: string;
}

/**
 * The link's story in words, with runs of the same repeated event (a patient re-reading a message)
 * shown once: "Message read 4 times, last at 10:32am" keeps what happened in between readable.
 */
export function linkActivity(
  events: ReadonlyArray<{ type: string; occurredAt: Date; details: Record<string, unknown> }>,
): LinkActivityRow[] {
  const rows: Array<LinkActivityRow & { type: string; times: number; first: Date }> = [];
  for (const e of events) {
    const text = e.type.endsWith('.sent') && e.details.resent ? 'Link sent again' : (LINK_EVENT_WORDS[e.type] ?? e.type);
    const previous = rows.at(-1);
    if (previous && e.type === 'message.read' && previous.type === e.type) {
      previous.times += 1;
      previous.occurredAt = e.occurredAt;
      continue;
    }
    rows.push({ type: e.type, text, occurredAt: e.occurredAt, first: e.occurredAt, times: 1 });
  }
  return rows.map((r) => ({
    occurredAt: r.first,
    text: r.times > 1 ? `${r.text} ${r.times} times, last at ${timeWords(r.occurredAt)}` : r.text,
  }));
}

/** A patient as staff pages show one: never the whole mobile number. */
export function patientSummary(patient: Patient) {
  return {
    id: patient.id,
    name: `${patient.givenName} ${patient.familyName}`,
    nhsNumber: patient.nhsNumber,
    dateOfBirth: patient.dateOfBirth,
    mobile: maskedMobile(patient.mobileE164),
  };
}

/** "ending 001": enough for staff to recognise the number, not enough to copy it. */
export function maskedMobile(e164: string): string {
  return `ending ${e164.slice(-3)}`;
}
