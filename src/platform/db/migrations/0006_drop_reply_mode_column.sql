ALTER TABLE "conversations" ALTER COLUMN "kind" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "conversations" DROP COLUMN "reply_mode";