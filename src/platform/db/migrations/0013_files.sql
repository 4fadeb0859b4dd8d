-- Files (issue 13): the record of each document staff send and each attachment a patient adds to a reply.
-- The bytes live in the file store, encrypted under their own data key; the wrapped key is kept here.
-- The row stays after the bytes are deleted (deleted_at), as the record that the file existed.
CREATE TABLE "files" (
	"id" uuid PRIMARY KEY NOT NULL,
	"organisation_id" uuid NOT NULL,
	"purpose" text NOT NULL,
	"conversation_id" uuid,
	"item_id" uuid,
	"draft_key" text,
	"uploaded_by_staff_id" uuid,
	"file_name" text NOT NULL,
	"media_type" text NOT NULL,
	"size_bytes" integer NOT NULL,
	"sha256" text NOT NULL,
	"storage_key" text NOT NULL,
	"encryption_key_id" text NOT NULL,
	"wrapped_key" text NOT NULL,
	"scan_status" text NOT NULL,
	"scan_engine" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"available_until" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "files_storage_key_unique" UNIQUE("storage_key"),
	CONSTRAINT "files_purpose_check" CHECK ("files"."purpose" IN ('document', 'attachment')),
	CONSTRAINT "files_media_type_check" CHECK ("files"."media_type" IN ('application/pdf', 'image/jpeg', 'image/png')),
	CONSTRAINT "files_scan_status_check" CHECK ("files"."scan_status" IN ('clean', 'unscanned'))
);
--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_item_id_conversation_items_id_fk" FOREIGN KEY ("item_id") REFERENCES "public"."conversation_items"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "files" ADD CONSTRAINT "files_uploaded_by_staff_id_staff_users_id_fk" FOREIGN KEY ("uploaded_by_staff_id") REFERENCES "public"."staff_users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "files_conversation_idx" ON "files" USING btree ("conversation_id","created_at");--> statement-breakpoint
CREATE INDEX "files_item_idx" ON "files" USING btree ("item_id");--> statement-breakpoint
CREATE INDEX "files_draft_idx" ON "files" USING btree ("conversation_id","draft_key") WHERE draft_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX "files_available_until_idx" ON "files" USING btree ("available_until") WHERE deleted_at IS NULL AND available_until IS NOT NULL;--> statement-breakpoint
CREATE INDEX "files_unattached_idx" ON "files" USING btree ("created_at") WHERE deleted_at IS NULL AND item_id IS NULL;