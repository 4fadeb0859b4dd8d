// Sending a message: the text staff (or an integrator) wrote and whether the patient may reply, through
// the conversation feature's one send transaction (conversation, message, link, text, audit).
import { z } from 'zod';
import type { Services } from '../../services.ts';
import type { Patient } from '../patients/patients.service.ts';
import { startConversation, type SentBy, type StaffSubmission, type StartedConversation } from '../conversations/conversations.service.ts';
import { messageKind, type ReplyMode } from './message.kind.ts';
import { MESSAGE_BODY_MAX, STAFF_MESSAGE } from './message-replies.service.ts';

export const messageBodySchema = z
  .string('Enter a message')
  .transform((v) => v.replace(/\r\n/g, '\n').trim())
  .pipe(
    z
      .string()
      .min(1, 'Enter a message')
      .max(MESSAGE_BODY_MAX, `Message must be ${MESSAGE_BODY_MAX.toLocaleString('en-GB')} characters or fewer`)
      // Tabs and new lines are fine; other control characters are not text.
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .regex(/^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/, 'Message must not contain control characters'),
  );

export interface SendMessageInput {
  organisationId: string;
  patient: Patient;
  body: string;
  replyMode: ReplyMode;
  sentBy: SentBy;
  ip?: string | null;
  submission?: StaffSubmission;
}

export function sendMessage(services: Services, input: SendMessageInput): Promise<StartedConversation> {
  return startConversation(services, {
    organisationId: input.organisationId,
    patient: input.patient,
    kind: messageKind,
    payload: { replyMode: input.replyMode },
    items: [{ kind: STAFF_MESSAGE, body: messageBodySchema.parse(input.body) }],
    sentBy: input.sentBy,
    ip: input.ip,
    submission: input.submission,
  });
}

export type { StartedConversation as SentMessage } from '../conversations/conversations.service.ts';
export { MESSAGE_BODY_MAX, REPLY_BODY_MAX } from './message-replies.service.ts';
export { replyModes, type ReplyMode } from './message.kind.ts';
