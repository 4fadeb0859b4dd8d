// Organisation API keys for integrators. A key is `dck_<prefix>_<secret>`: the prefix finds the row,
// the 256-bit secret is stored only as SHA-256 (a slow hash adds nothing for a random secret of this
// size) and compared in constant time. The full key is shown once, when it is created.
import { and, desc, eq, isNull } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { apiKeys } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { constantTimeEqualHex, sha256Hex } from '../../platform/crypto/tokens.ts';

export type ApiKey = typeof apiKeys.$inferSelect;
const KEY_PATTERN = /^dck_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export async function createApiKey(
  db: Queryable,
  input: { organisationId: string; name: string },
): Promise<{ key: string; apiKey: Omit<ApiKey, 'secretHash'> }> {
  const prefix = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const [row] = await db
    .insert(apiKeys)
    .values({ organisationId: input.organisationId, name: input.name.trim().slice(0, 120) || 'API key', prefix, secretHash: sha256Hex(secret) })
    .returning();
  const { secretHash: _omit, ...apiKey } = row!;
  return { key: `dck_${prefix}_${secret}`, apiKey };
}

export interface VerifiedApiKey {
  apiKeyId: string;
  organisationId: string;
  lastUsedAt: Date | null;
}

export async function verifyApiKey(db: Queryable, presented: string): Promise<VerifiedApiKey | null> {
  const match = KEY_PATTERN.exec(presented);
  if (!match) return null;
  const [row] = await db.select().from(apiKeys).where(and(eq(apiKeys.prefix, match[1]!), isNull(apiKeys.revokedAt)));
  if (!row || !constantTimeEqualHex(row.secretHash, sha256Hex(match[2]!))) return null;
  return { apiKeyId: row.id, organisationId: row.organisationId, lastUsedAt: row.lastUsedAt };
}

/**
 * Record that a key was used. Written at most once a minute per key (the caller passes what it read),
 * so a busy integration does not turn every request into a write.
 */
export async function touchApiKey(db: Queryable, key: VerifiedApiKey, now: Date): Promise<void> {
  if (key.lastUsedAt && now.getTime() - key.lastUsedAt.getTime() < 60_000) return;
  await db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, key.apiKeyId));
}

export async function listApiKeys(db: Queryable, organisationId: string): Promise<Array<Omit<ApiKey, 'secretHash'>>> {
  const rows = await db.select().from(apiKeys).where(eq(apiKeys.organisationId, organisationId)).orderBy(desc(apiKeys.createdAt));
  return rows.map(({ secretHash: _omit, ...k }) => k);
}

/** The key it revoked (its organisation, for the audit trail), or undefined if there was no active key with that id. */
export async function revokeApiKey(
  db: Queryable,
  id: string,
  now: Date = new Date(),
): Promise<{ id: string; organisationId: string; name: string } | undefined> {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id, organisationId: apiKeys.organisationId, name: apiKeys.name });
  return row;
}
