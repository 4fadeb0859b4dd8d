// The words staff see for reply modes, text message statuses and link events, in one place so the
// inbox and the conversation page say the same thing.
import type { Patient } from '../patients/patients.service.ts';

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
  'api.message_viewed': 'Viewed through the API',
  'questionnaire.reminder_sent': 'Reminder sent with a new link',
};

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
