-- The portal shows an organisation's record only when it has NHS login's date of birth and family name
-- too, not just the NHS number (features/patients/record-match.ts). Portal sessions made before this
-- carry neither, so they end: those people log in with NHS login again.
DELETE FROM "patient_sessions" WHERE "kind" = 'portal';--> statement-breakpoint
ALTER TABLE "patient_sessions" ADD COLUMN "nhs_login_birthdate" date;--> statement-breakpoint
ALTER TABLE "patient_sessions" ADD COLUMN "nhs_login_family_name" text;--> statement-breakpoint
CREATE INDEX "audit_events_record_mismatch_idx" ON "audit_events" USING btree ("patient_id") WHERE "audit_events"."type" = 'portal.record_mismatch';
