// The message: the first item kind. Staff write a message and choose whether the patient may reply
// (none / once / a conversation until the link expires); the reply mode is the kind's payload.
import { z } from 'zod';
import type { ItemKind } from '../conversations/item-kinds.ts';
import { replyAllowed, STAFF_MESSAGE, PATIENT_REPLY } from './message-replies.service.ts';
import { showMessage, postReply } from './patient-message.routes.ts';
import { messageStaffPanel } from './staff-reply.panel.ts';

export const replyModes = ['none', 'once', 'conversation'] as const;
export type ReplyMode = (typeof replyModes)[number];

export const messagePayloadSchema = z.object({ replyMode: z.enum(replyModes) });
export type MessagePayload = z.output<typeof messagePayloadSchema>;

export const REPLY_MODE_WORDS: Record<ReplyMode, string> = {
  none: 'No reply',
  once: 'One reply',
  conversation: 'Conversation',
};

export const messageKind: ItemKind<MessagePayload> = {
  name: 'message',
  words: { caption: 'Message', thing: 'message', textWaiting: 'you have a new message' },
  sentAuditType: 'message.sent',
  patientItemKinds: [PATIENT_REPLY],
  payloadSchema: messagePayloadSchema,
  linkTtlDays: (config) => config.linkTtlDays,
  page: showMessage,
  routes: [
    {
      method: 'POST',
      path: '/reply',
      handler: postReply,
      files: (config) => ({ files: config.files.attachmentsPerReply, fileBytes: config.files.attachmentMaxBytes }),
    },
  ],
  waitingForPatient: ({ conversation, items }) => {
    const replies = items.filter((i) => i.kind === PATIENT_REPLY).length;
    return replies === 0 && replyAllowed(conversation.payload.replyMode, 0) ? { waiting: true, tag: 'Reply needed' } : { waiting: false };
  },
  describeForStaff: (payload) => ({ what: 'Message', settingsLabel: 'Replies', settings: REPLY_MODE_WORDS[payload.replyMode] }),
  describeItemForStaff: (item, names) =>
    item.kind === PATIENT_REPLY
      ? { fromPatient: true, tag: 'Patient reply', heading: `Reply from ${names.patientName}` }
      : { fromPatient: false, heading: `Message from ${names.authorName ?? 'your organisation'}` },
  // A conversation's reply box (or why staff cannot reply), under the thread.
  staffPanel: messageStaffPanel,
};

export { STAFF_MESSAGE, PATIENT_REPLY };
