// The words of each kind of text message. The same wording is used by the development transport and
// documented for the GOV.UK Notify templates (README), so what a tester sees is what patients get.
// A text never carries the message body or any clinical detail: only who it is from and the link.
export type SmsKind = 'message_link' | 'security_code';

export interface SmsPersonalisation {
  message_link: { organisation_name: string; link: string };
  security_code: { organisation_name: string; code: string };
}

export const SMS_TEMPLATES: Record<SmsKind, string> = {
  message_link: 'Message from ((organisation_name)): you have a new message. Open it here: ((link))',
  security_code:
    '((code)) is your security code to open your message from ((organisation_name)). It expires in 10 minutes. Do not share this code with anyone.',
};

export function renderSms(kind: SmsKind, personalisation: Record<string, string>): string {
  return SMS_TEMPLATES[kind].replace(/\(\(([a-z_]+)\)\)/g, (_, key: string) => personalisation[key] ?? '');
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
