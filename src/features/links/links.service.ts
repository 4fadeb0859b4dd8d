// Secure links: a 128-bit token in the URL opens one conversation, after verification. Only the
// token's SHA-256 is stored; the token itself exists only in the text message that carries it.
import { and, eq, isNull } from 'drizzle-orm';
import { links } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { newLinkToken, sha256Hex } from '../../platform/crypto/tokens.ts';

export type Link = typeof links.$inferSelect;

export interface IssuedLink {
  link: Link;
  /** The secret; put it in the text message and nowhere else. */
  token: string;
}

export async function issueLink(
  on: Queryable,
  input: { conversationId: string; phoneE164: string; ttlDays: number; now: Date },
): Promise<IssuedLink> {
  const token = newLinkToken();
  const [link] = await on
    .insert(links)
    .values({
      conversationId: input.conversationId,
      tokenHash: sha256Hex(token),
      phoneE164: input.phoneE164,
      expiresAt: new Date(input.now.getTime() + input.ttlDays * 86_400_000),
    })
    .returning();
  return { link: link!, token };
}

export function linkUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl}/${token}`;
}

export async function findLinkByToken(on: Queryable, token: string): Promise<Link | undefined> {
  const [row] = await on.select().from(links).where(eq(links.tokenHash, sha256Hex(token)));
  return row;
}

/** Revoke every live link of a conversation (staff revoke, or before a re-send). */
export async function revokeConversationLinks(on: Queryable, conversationId: string, now: Date): Promise<number> {
  const rows = await on
    .update(links)
    .set({ revokedAt: now })
    .where(and(eq(links.conversationId, conversationId), isNull(links.revokedAt)))
    .returning({ id: links.id });
  return rows.length;
}
