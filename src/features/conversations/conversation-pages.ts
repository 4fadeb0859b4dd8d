// What every patient page of a conversation needs, whichever kind it is and however the patient got in:
// where its pages live, who sent it (the help footer), its words, and the portal's way back.
import type { PatientAccess } from '../verification/patient-access.ts';
import type { KindRequestContext } from './item-kinds.ts';

/** Where the conversation pages are mounted, and so where verification lands a browser it lets in. */
export const conversationPaths = {
  linkPrefix: '/:token/conversation',
  portalPrefix: '/portal/conversations/:id',
  link: (token: string) => `/${token}/conversation`,
  portal: (conversationId: string) => `/portal/conversations/${conversationId}`,
} as const;

/** The context every kind's page template starts from (templates extend conversations/views/conversation-page.njk). */
export function conversationPageContext(context: KindRequestContext<unknown>) {
  const access: PatientAccess = context.access;
  return {
    access: { via: access.via, basePath: access.basePath, mayAnswer: access.mayAnswer },
    organisation: { name: access.organisation.name, contactPhone: access.organisation.contactPhone },
    words: context.services.itemKinds.words(context.conversation.kind),
  };
}
