// The message's patient pages, under the conversation's base path (a link's or the portal's): the
// message with its replies (GET), and a reply (POST /reply). HTTP only: parse, call one service
// function, render or redirect.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { newSecret } from '../../platform/crypto/tokens.ts';
import type { FormErrors } from '../../platform/http/pages.ts';
import type { KindHandler, KindRequestContext } from '../conversations/item-kinds.ts';
import { conversationPageContext } from '../conversations/conversation-pages.ts';
import { listItems } from '../conversations/conversations.repository.ts';
import type { MessagePayload } from './message.kind.ts';
import { describeWait } from '../verification/wait-times.ts';
import { messageView, recordMessageRead, REPLY_BODY_MAX, replyKeySchema, savePatientReply } from './message-replies.service.ts';

const optionalText = z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional());
const messageQuery = z.object({ replied: optionalText });
const replyForm = z.object({ reply: z.preprocess((v) => (typeof v === 'string' ? v : ''), z.string()), replyKey: optionalText });

function renderMessage(
  reply: FastifyReply,
  context: KindRequestContext<MessagePayload>,
  extra: { errors?: FormErrors; replyValue?: string; replied?: boolean; refused?: boolean; replyKey?: string } = {},
  status = 200,
) {
  const view = messageView(context, context.access);
  return reply.page(
    'messages/views/patient-message.njk',
    {
      ...conversationPageContext(context),
      pageTitle: `Message from ${context.access.organisation.name}`,
      view,
      replyMax: REPLY_BODY_MAX,
      // A new key for every rendering of the form; a failed post keeps its key, so sending it again
      // after fixing it is still the one reply.
      replyKey: extra.replyKey ?? newSecret(16),
      errors: extra.errors,
      replyValue: extra.replyValue ?? '',
      replied: extra.replied ?? false,
      refused: extra.refused ?? false,
    },
    { status },
  );
}

export const showMessage: KindHandler<MessagePayload> = async (request, reply, context) => {
  const query = messageQuery.parse(request.query);
  await recordMessageRead(context.services, context.access);
  // The banner only confirms a reply that exists.
  const replied = query.replied === '1' && context.items.some((i) => i.kind === 'patient_reply');
  return renderMessage(reply, context, { replied });
};

export const postReply: KindHandler<MessagePayload> = async (request, reply, context) => {
  const form = replyForm.parse(request.body ?? {});
  const result = await savePatientReply(context.services, {
    access: context.access,
    replyMode: context.conversation.payload.replyMode,
    body: form.reply,
    replyKey: form.replyKey,
  });
  switch (result.kind) {
    case 'sent':
      return reply.redirect(`${context.access.basePath}?replied=1`, 303);
    case 'invalid':
      return renderMessage(
        reply,
        context,
        {
          errors: { reply: { href: '#reply', text: result.message } },
          replyValue: form.reply,
          replyKey: replyKeySchema.safeParse(form.replyKey).success ? form.replyKey : undefined,
        },
        400,
      );
    case 'limited': {
      // Nothing was stored: say so, and keep what they wrote (and its key) to send when they can.
      const wait = describeWait(context.services.now(), result.retryAt);
      const { name, contactPhone } = context.access.organisation;
      const text =
        result.window === 'day'
          ? `You have sent a lot of replies today. Your reply has not been sent. You can send it after ${wait.clockTime}, or contact ${name} on ${contactPhone}`
          : `You have sent a lot of replies. Your reply has not been sent. Wait ${wait.waitText} and send it again`;
      reply.header('Retry-After', String(wait.retryAfterSeconds));
      return renderMessage(
        reply,
        context,
        {
          errors: { reply: { href: '#reply', text } },
          replyValue: form.reply,
          replyKey: replyKeySchema.safeParse(form.replyKey).success ? form.replyKey : undefined,
        },
        429,
      );
    }
    case 'not_allowed': {
      // Shown with the replies as they are now (another tab may have sent the one reply).
      const items = await listItems(context.services.db, context.conversation.id);
      return renderMessage(reply, { ...context, items }, { refused: true }, 409);
    }
  }
};
