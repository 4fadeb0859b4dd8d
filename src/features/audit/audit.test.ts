// The audit trail is append-only in the database itself (migration 0001), not only by convention:
// whatever code runs as the application's role cannot change, remove or empty it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq, sql } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { auditEvents } from '../../platform/db/schema.ts';
import { recordAudit } from './audit.service.ts';

test('audit events can be added but never changed, deleted or truncated', async (t) => {
  const { services, close } = await createTestApp();
  t.after(close);
  await recordAudit(services.db, { type: 'inbox.viewed', actor: { type: 'staff', id: 'someone', ip: '127.0.0.1' }, details: { page: 1, conversationIds: [] } });
  const [event] = await services.db.select().from(auditEvents);
  assert.ok(event);
  // drizzle wraps the database's error; the trigger's words are in its cause.
  const refused = (error: unknown) => /append-only/.test(String((error as Error).cause ?? error));

  await assert.rejects(services.db.update(auditEvents).set({ actorId: 'someone else' }).where(eq(auditEvents.id, event.id)), refused);
  await assert.rejects(services.db.delete(auditEvents).where(eq(auditEvents.id, event.id)), refused);
  await assert.rejects(services.db.execute(sql`TRUNCATE audit_events`), refused);
  assert.deepEqual(await services.db.select().from(auditEvents), [event]);
});
