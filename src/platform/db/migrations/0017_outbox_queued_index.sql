-- Queued texts by age, for the outbox backlog that /metrics and /health read on every scrape (issue 15):
-- a partial index holds only the few queued rows, so the read never scans the history of sent texts.
-- IF NOT EXISTS (added by hand): a large deployment may build it first with CREATE INDEX CONCURRENTLY
-- (docs/operations.md, "Upgrading"), so queuing texts is not blocked while it reads the table.
CREATE INDEX IF NOT EXISTS "outbound_sms_queued_idx" ON "outbound_sms" USING btree ("created_at") WHERE "outbound_sms"."status" = 'queued';
