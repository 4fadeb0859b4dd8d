// What the staff conversation page shows under a 'conversation' message's thread: the reply box while
// staff can reply, or why they cannot. Messages with no reply or one reply show nothing more.
import type { ItemKind } from '../conversations/item-kinds.ts';
import type { MessagePayload } from './message.kind.ts';
import { MESSAGE_BODY_MAX } from './message-replies.service.ts';
import { staffReplyStateOf, type StaffReplyBlock } from './staff-reply.service.ts';

const VIEW = 'messages/views/staff-reply-panel.njk';

/** Why not, in the words staff read under the thread (each says what to do instead). */
export const STAFF_REPLY_BLOCK_WORDS: Record<StaffReplyBlock, string> = {
  not_conversation: 'You cannot reply because this message does not take replies as a conversation. Send a new message instead.',
  no_link: 'You cannot reply because there is no link for this conversation. Send a new message instead.',
  revoked: 'You cannot reply because the link has been revoked. Send a new message instead.',
  expired: 'You cannot reply because the link has expired. Send a new message instead.',
  locked: 'You cannot reply because the link is locked. Re-send the link to unlock it, then reply.',
  number_changed: 'You cannot reply because the patient’s mobile number has changed since the link was sent. Re-send the link to the new number, then reply.',
};

export const messageStaffPanel: NonNullable<ItemKind<MessagePayload>['staffPanel']> = async (services, at) => {
  const state = await staffReplyStateOf(services, services.db, at.conversation);
  return {
    view: VIEW,
    placement: 'after-items',
    data: {
      canReply: state.canReply,
      // Messages with no reply or one reply show nothing here, unless a reply was tried and refused.
      offered: state.canReply || state.reason !== 'not_conversation',
      whyNot: state.canReply ? undefined : STAFF_REPLY_BLOCK_WORDS[state.reason],
      maxLength: MESSAGE_BODY_MAX,
    },
  };
};
