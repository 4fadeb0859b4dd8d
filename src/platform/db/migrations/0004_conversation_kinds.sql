ALTER TABLE "conversation_items" ADD COLUMN "payload" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "conversation_items" ADD COLUMN "client_key" text;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "kind" text DEFAULT 'message' NOT NULL;--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "payload" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "links" ADD COLUMN "previous_trusted_device_hash" text;--> statement-breakpoint
CREATE UNIQUE INDEX "conversation_items_client_key_idx" ON "conversation_items" USING btree ("conversation_id","client_key");