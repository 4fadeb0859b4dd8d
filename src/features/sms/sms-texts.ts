// The words of each kind of text message, rendered here by Dovecote and sent whole: the development
// transport keeps the rendered text, and GOV.UK Notify gets it as the one placeholder of a single
// template whose content is just `((message))` (README), so operators never create a template per kind
// and what a tester sees is what patients get. Every text is built only from this fixed wording, the
// item kind's fixed words and values Dovecote makes (the organisation's name as operators set it, the
// link, the code): never anything staff or patients wrote. A text never carries the message itself or
// any clinical detail: only who it is from, what kind of thing is waiting, and the link.
export type SmsKind = 'message_link' | 'security_code' | 'reminder' | 'booking_confirmed' | 'booking_reminder' | 'booking_cancelled' | 'booking_moved' | 'staff_reply';

export interface SmsPersonalisation {
  /** waiting: the item kind's words for what the link opens ("you have a new message"). */
  message_link: { organisation_name: string; waiting: string; link: string };
  /** thing: the item kind's word for what the code opens ("message"). */
  security_code: { organisation_name: string; thing: string; code: string };
  /**
   * A reminder with a fresh link to something still waiting (a questionnaire not sent back): thing is
   * the item kind's word ("questionnaire"), closes when it closes ("5:29pm on 9 December", UK time).
   */
  reminder: { organisation_name: string; thing: string; closes: string; link: string };
  /**
   * Appointments (features/booking): `when` is "9:30am on Tuesday 8 December" (UK time), `phone` the
   * place's number. Never the appointment's type or place, which could say what it is for.
   */
  booking_confirmed: { organisation_name: string; when: string; phone: string };
  booking_reminder: { organisation_name: string; when: string; phone: string };
  booking_cancelled: { organisation_name: string; when: string; phone: string };
  booking_moved: { organisation_name: string; when: string; phone: string };
  staff_reply: { organisation_name: string; link: string };
}

export const SMS_TEMPLATES: Record<SmsKind, string> = {
  message_link: 'Message from ((organisation_name)): ((waiting)). Open it here: ((link))',
  security_code:
    '((code)) is your security code to open your ((thing)) from ((organisation_name)). It expires in 10 minutes. Do not share this code with anyone.',
  reminder: 'Reminder from ((organisation_name)): please fill in your ((thing)) by ((closes)). Open it here: ((link))',
  booking_confirmed: 'Your appointment with ((organisation_name)) is booked for ((when)). To change or cancel it, use the link we sent you or call ((phone)).',
  booking_reminder: 'Reminder: you have an appointment with ((organisation_name)) at ((when)). To change or cancel it, use the link we sent you or call ((phone)).',
  booking_cancelled: '((organisation_name)) has cancelled your appointment at ((when)). Call ((phone)) if you need another appointment.',
  booking_moved: '((organisation_name)) has moved your appointment to ((when)). To change or cancel it, use the link we sent you or call ((phone)).',
  // A staff reply in a conversation: the same link as before (a fresh token for it), nothing of the reply.
  staff_reply: '((organisation_name)) has replied. Open it here: ((link))',
};

// Texts queued before item kinds named what they open were all messages.
const QUEUED_BEFORE_KINDS: Record<string, string> = { waiting: 'you have a new message', thing: 'message' };

export function renderSms(kind: SmsKind, personalisation: Record<string, string>): string {
  return SMS_TEMPLATES[kind].replace(/\(\(([a-z_]+)\)\)/g, (_, key: string) => personalisation[key] ?? QUEUED_BEFORE_KINDS[key] ?? '');
}

/** GSM-7 texts are 160 characters in one part, 153 a part when split; UCS-2 70 and 67. */
export function smsFragments(text: string): number {
  const gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/.test(text);
  const extended = gsm ? (text.match(/[\^{}\\[~\]|€]/g) ?? []).length : 0;
  const length = text.length + extended;
  const single = gsm ? 160 : 70;
  const part = gsm ? 153 : 67;
  return length <= single ? 1 : Math.ceil(length / part);
}
