ALTER TABLE "patient_sessions" ADD COLUMN "kind" text DEFAULT 'link' NOT NULL;--> statement-breakpoint
ALTER TABLE "patient_sessions" ADD COLUMN "nhs_number" text;--> statement-breakpoint
ALTER TABLE "patient_sessions" ADD COLUMN "nhs_login_sub" text;--> statement-breakpoint
CREATE INDEX "patients_nhs_idx" ON "patients" USING btree ("nhs_number");