// The message's patient pages, under the conversation's base path (a link's or the portal's): the
// message with its replies (GET), and a reply (POST /reply). HTTP only: parse, call one service
// function, render or redirect.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { textFields } from '../../platform/http/multipart.ts';
import { newSecret } from '../../platform/crypto/tokens.ts';
import type { FormErrors } from '../../platform/http/pages.ts';
import type { KindHandler, KindRequestContext } from '../conversations/item-kinds.ts';
import { conversationPageContext } from '../conversations/conversation-pages.ts';
import { listItems } from '../conversations/conversations.repository.ts';
import type { MessagePayload } from './message.kind.ts';
import { describeWait } from '../verification/wait-times.ts';
import { messageView, PATIENT_REPLY, recordMessageRead, REPLY_BODY_MAX, replyAllowed, replyKeySchema, savePatientReply } from './message-replies.service.ts';
import { draftAttachments, removeDraftAttachment, sentFilesByItem, takePatientAttachments } from '../files/attachments.service.ts';
import { fileView, sizeInWords } from '../files/file-words.ts';

const optionalText = z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional());
const messageQuery = z.object({ replied: optionalText });
const replyForm = z.object({ reply: z.preprocess((v) => (typeof v === 'string' ? v : ''), z.string()), replyKey: optionalText });

async function renderMessage(
  reply: FastifyReply,
  context: KindRequestContext<MessagePayload>,
  extra: { errors?: FormErrors; replyValue?: string; replied?: boolean; refused?: boolean; replyKey?: string; notice?: string } = {},
  status = 200,
) {
  const view = messageView(context, context.access);
  const { services, access } = context;
  const replyKey = extra.replyKey ?? newSecret(16);
  const [sentFiles, drafts] = await Promise.all([sentFilesByItem(services, access.conversation.id), draftAttachments(services, access, extra.replyKey)]);
  const files = services.config.files;
  return reply.page(
    'messages/views/patient-message.njk',
    {
      ...conversationPageContext(context),
      pageTitle: `Message from ${context.access.organisation.name}`,
      view,
      replyFiles: Object.fromEntries(sentFiles),
      drafts: drafts.map(fileView),
      attachments: {
        max: files.attachmentsPerReply,
        left: Math.max(0, files.attachmentsPerReply - drafts.length),
        maxSize: sizeInWords(files.attachmentMaxBytes),
      },
      notice: extra.notice,
      replyMax: REPLY_BODY_MAX,
      // A new key for every rendering of the form; a failed post keeps its key, so sending it again
      // after fixing it is still the one reply (and keeps the files added to it).
      replyKey,
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

const validKey = (key: string | undefined) => (replyKeySchema.safeParse(key).success ? key : undefined);

/** The reply form's buttons: add the chosen files, remove one (its id), or send. */
function actionOf(fields: Record<string, string>): { do: 'send' } | { do: 'add' } | { do: 'remove'; fileId: string } {
  if (typeof fields.remove === 'string' && fields.remove !== '') return { do: 'remove', fileId: fields.remove.slice(0, 64) };
  return fields.action === 'add' ? { do: 'add' } : { do: 'send' };
}

export const postReply: KindHandler<MessagePayload> = async (request, reply, context) => {
  const { services, access } = context;
  // With files the form is multipart: each file is checked, scanned and kept as this form's draft as
  // it arrives. Without (an old form, or a client that sends none) it is a plain form.
  const taken = request.multipartForm
    ? await takePatientAttachments(
        services,
        access,
        request.multipartForm,
        (fields) => validKey(fields.replyKey),
        replyAllowed(context.conversation.payload.replyMode, context.items.filter((i) => i.kind === PATIENT_REPLY).length),
      )
    : { fields: textFields(request.body), refusals: [] };
  const form = replyForm.parse(taken.fields);
  const action = actionOf(taken.fields);
  const replyKey = validKey(form.replyKey);
  if (taken.refusals.length > 0 || action.do !== 'send') {
    let notice: string | undefined;
    if (action.do === 'remove' && replyKey && (await removeDraftAttachment(services, access, replyKey, action.fileId))) notice = 'The file has been removed';
    const errors: FormErrors = {};
    taken.refusals.forEach((r, i) => (errors[i === 0 ? 'files' : `files-${i}`] = { href: '#files', text: r.message }));
    if (action.do === 'add' && taken.refusals.length === 0 && (await draftAttachments(services, access, replyKey)).length === 0) {
      errors.files = { href: '#files', text: 'Select a file to add' };
    }
    const status = taken.refusals.some((r) => r.refusal === 'scan_failed') ? 503 : Object.keys(errors).length > 0 ? 400 : 200;
    return renderMessage(reply, context, { errors, replyValue: form.reply, replyKey: replyKey ?? undefined, notice }, status);
  }
  const drafts = await draftAttachments(services, access, replyKey);
  const result = await savePatientReply(services, {
    access,
    replyMode: context.conversation.payload.replyMode,
    body: form.reply,
    replyKey: form.replyKey,
    attachmentIds: drafts.map((d) => d.id),
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
