-- The text provider's rate limit shared by every sending process (issue 15): one row per limit holding the
-- next free send slot on the database's clock (src/features/sms/send-budget.ts). UNLOGGED (added by hand:
-- drizzle has no word for it): a claim is a write for every few texts, and without WAL its commit waits
-- for no disk flush (7 ms a claim down to about 1 ms on a busy server). After a database crash the row is
-- empty and slots start again from now, which at worst lets the few slots already claimed overlap the
-- first new ones; a 429 then pauses everyone as usual.
CREATE UNLOGGED TABLE "sms_send_budget" (
	"key" text PRIMARY KEY NOT NULL,
	"next_slot_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
