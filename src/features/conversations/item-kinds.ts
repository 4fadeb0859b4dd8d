// The item-kind registry (DESIGN.md §2, "the seam"). Verification decides whether a browser may open a
// conversation and hands over a PatientAccess; what the patient then sees and does is the business of
// the conversation's kind — a message today; a questionnaire, a booking, a document as they land. A
// kind is a feature folder that exports one ItemKind, and app.ts registers it: nothing else changes.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Config } from '../../config/config.ts';
import type { MultipartLimits } from '../../platform/http/multipart.ts';
import type { Services } from '../../services.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { AuditEventType } from '../audit/audit.service.ts';
import type { PatientAccess } from '../verification/patient-access.ts';
import type { ConversationItem, ConversationRow } from './conversations.repository.ts';

/**
 * The words that name what is behind a link, for the pages and texts that know nothing of kinds
 * (verification, the portal list, the text message). Each is used in a sentence, so test them there.
 */
export interface KindWords {
  /** Before "from Demo Surgery" in a page's caption: "Message", "Questionnaire". */
  caption: string;
  /** "open this ___", "the ___ is for you": "message", "questionnaire". */
  thing: string;
  /** The text message: "Message from Demo Surgery: ___. Open it here: …". Dovecote's words only. */
  textWaiting: string;
}

/** A conversation of one kind with its settings parsed by that kind's schema, and its items in order. */
export interface KindConversation<P> {
  conversation: Omit<ConversationRow, 'payload'> & { payload: P };
  items: ConversationItem[];
}

/** What a kind's patient handler is given: who got in and how, and the conversation itself. */
export interface KindRequestContext<P> extends KindConversation<P> {
  services: Services;
  access: PatientAccess;
}

export type KindHandler<P> = (request: FastifyRequest, reply: FastifyReply, context: KindRequestContext<P>) => Promise<FastifyReply>;

export interface KindRoute<P> {
  method: 'GET' | 'POST';
  /** Under the conversation's base path, e.g. '/reply'. */
  path: `/${string}`;
  handler: KindHandler<P>;
  /**
   * The route takes files (a multipart form, platform/http/multipart.ts): how many and how big. The
   * handler then reads them from request.multipartForm, after verification's guard has let it in.
   */
  files?: (config: Config) => MultipartLimits;
}

/** Whether a conversation still waits for the patient (the portal's "action needed", the staff inbox). */
export type PatientWaiting = { waiting: false } | { waiting: true; tag: string };

export interface StaffDescription {
  what: string;
  settingsLabel: string;
  settings: string;
  /** The inbox's words for what the patient sent: "Reply waiting" / "2 replies" unless the kind says. */
  fromPatient?: { waiting: string; sent: (count: number) => string; none?: string };
}

export interface StaffItemDescription {
  fromPatient: boolean;
  heading: string;
  tag?: string;
}

export interface ItemKind<P = unknown> {
  /** Stored in conversations.kind. Never renamed once conversations of it exist. */
  readonly name: string;
  readonly words: KindWords;
  /** The audit event of sending one (and re-sending: details say `resent`). */
  readonly sentAuditType: AuditEventType;
  /** Item types the patient writes (a reply, answers): counted and flagged for staff. */
  readonly patientItemKinds: readonly string[];
  /**
   * Item types that hold clinical answers (a questionnaire's): only roles with readAnswers see what is
   * in them and open their files (permissions.ts); others see that they arrived.
   */
  readonly answerItemKinds?: readonly string[];
  /** The kind's settings, kept in conversations.payload and parsed whenever they are read. */
  readonly payloadSchema: z.ZodType<P>;
  /** How long a link to a conversation of this kind works (DESIGN.md §3: per kind, configurable; a kind may let the sender choose). */
  linkTtlDays(config: Config, payload: P): number;
  /**
   * A moment the conversation's links must keep working until, whatever linkTtlDays says: a booked
   * appointment, changed or cancelled with its link. A re-sent link lasts at least as long.
   */
  keepLinksUntil?(on: Queryable, conversationId: string): Promise<Date | undefined>;
  /** The page at the base path: what the patient lands on once verification lets them in. */
  page: KindHandler<P>;
  /** Further patient routes under the base path; answered only for conversations of this kind. */
  routes: readonly KindRoute<P>[];
  waitingForPatient(conversation: KindConversation<P>, now: Date): PatientWaiting;
  /** Staff pages: what this is and its settings, in staff words ("Message"; "Replies": "One reply"). */
  describeForStaff(payload: P): StaffDescription;
  /** Staff pages: how one item is headed ("Reply from Priya Shah", tagged "Patient reply"). */
  describeItemForStaff(item: ConversationItem, names: { patientName: string; authorName: string | null }): StaffItemDescription;
  /**
   * Staff conversation page: what only this kind shows (a questionnaire's answers), as a template that
   * the page includes with `panel` in its context. Kinds with nothing more to show leave it out.
   */
  staffPanel?(services: Services, conversation: KindConversation<P>, patient: { nhsNumber: string }, viewer: StaffViewer): Promise<StaffPanel | undefined>;
}

/** Who is looking at a staff page, as far as a kind needs to know. */
export interface StaffViewer {
  /** Their role may read clinical answers (permissions.ts readAnswers). */
  mayReadAnswers: boolean;
}

export interface StaffPanel {
  /** A template path under src/features, rendered inside the staff conversation page. */
  view: string;
  data: Record<string, unknown>;
  /** Where the page shows it: above the link (the default), or after the items (a reply box). */
  placement?: 'before-link' | 'after-items';
}

/** What sending needs of a kind; none of it depends on the kind's payload type. */
export type KindBasics = Pick<ItemKind, 'name' | 'words' | 'sentAuditType' | 'linkTtlDays' | 'payloadSchema' | 'keepLinksUntil'>;

export class ItemKindRegistry {
  private readonly kinds = new Map<string, ItemKind>();

  register<P>(kind: ItemKind<P>): this {
    if (this.kinds.has(kind.name)) throw new Error(`item kind '${kind.name}' is registered twice`);
    this.kinds.set(kind.name, kind as unknown as ItemKind);
    return this;
  }

  /** The kind of a stored conversation. A row of a kind this build does not know is a deployment fault. */
  get(name: string): ItemKind {
    const kind = this.kinds.get(name);
    if (!kind) throw new Error(`no item kind '${name}' is registered`);
    return kind;
  }

  all(): ItemKind[] {
    return [...this.kinds.values()];
  }

  /** Every kind's answer item types: what roles without readAnswers may not open. */
  answerItemKinds(): Set<string> {
    return new Set(this.all().flatMap((k) => k.answerItemKinds ?? []));
  }

  words(name: string): KindWords {
    return this.get(name).words;
  }

  /** A stored conversation as its kind sees it: the payload parsed by the kind's own schema. */
  parse(conversation: ConversationRow, items: ConversationItem[]): { kind: ItemKind; at: KindConversation<unknown> } {
    const kind = this.get(conversation.kind);
    const payload: unknown = kind.payloadSchema.parse(conversation.payload);
    return { kind, at: { conversation: { ...conversation, payload }, items } };
  }
}
