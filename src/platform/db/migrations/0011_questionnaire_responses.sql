-- Questionnaires behind the link (issue 11): the answers of each questionnaire conversation, saved page by
-- page; reminder texts, one row per reminder so none is sent twice; the urgent flag the inbox sorts by.
CREATE TABLE "conversation_reminders" (
	"conversation_id" uuid NOT NULL,
	"reminder" text NOT NULL,
	"outbound_sms_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "conversation_reminders_conversation_id_reminder_pk" PRIMARY KEY("conversation_id","reminder")
);
--> statement-breakpoint
CREATE TABLE "questionnaire_responses" (
	"conversation_id" uuid PRIMARY KEY NOT NULL,
	"organisation_id" uuid NOT NULL,
	"questionnaire_url" text NOT NULL,
	"questionnaire_version" text NOT NULL,
	"answers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"revision" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"submitted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "urgent_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "conversation_reminders" ADD CONSTRAINT "conversation_reminders_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "questionnaire_responses" ADD CONSTRAINT "questionnaire_responses_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "questionnaire_responses" ADD CONSTRAINT "questionnaire_responses_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "questionnaire_responses_org_idx" ON "questionnaire_responses" USING btree ("organisation_id");--> statement-breakpoint
CREATE INDEX "conversations_questionnaire_created_idx" ON "conversations" USING btree ("created_at") WHERE kind = 'questionnaire';--> statement-breakpoint
CREATE INDEX "conversations_org_inbox_idx" ON "conversations" USING btree ("organisation_id",(urgent_since IS NULL),"created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);