-- Appointment booking (issue 12): clinicians, locations, appointment types, sessions and their slots;
-- holds while a patient confirms; bookings. No double booking is PostgreSQL's job: unique indexes for a
-- slot and an invitation, and an exclusion constraint (btree_gist, a trusted extension on PostgreSQL 13+
-- and bundled with PGlite) so one clinician's live bookings never overlap, whichever sessions they
-- come from.
CREATE EXTENSION IF NOT EXISTS btree_gist;
--> statement-breakpoint
CREATE TABLE "appointment_types" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organisation_id" uuid NOT NULL,
	"name" text NOT NULL,
	"length_minutes" integer NOT NULL,
	"mode" text NOT NULL,
	"patient_info" text DEFAULT '' NOT NULL,
	"cancel_cutoff_minutes" integer DEFAULT 60 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "appointment_types_length_check" CHECK ("appointment_types"."length_minutes" BETWEEN 5 AND 480),
	CONSTRAINT "appointment_types_mode_check" CHECK ("appointment_types"."mode" IN ('face_to_face', 'telephone', 'video')),
	CONSTRAINT "appointment_types_cutoff_check" CHECK ("appointment_types"."cancel_cutoff_minutes" BETWEEN 0 AND 10080)
);
--> statement-breakpoint
CREATE TABLE "booking_clinicians" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organisation_id" uuid NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "booking_holds" (
	"conversation_id" uuid PRIMARY KEY NOT NULL,
	"slot_id" uuid,
	"expires_at" timestamp with time zone NOT NULL,
	"taken" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "booking_locations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organisation_id" uuid NOT NULL,
	"name" text NOT NULL,
	"address" text NOT NULL,
	"phone" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "booking_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organisation_id" uuid NOT NULL,
	"clinician_id" uuid NOT NULL,
	"location_id" uuid NOT NULL,
	"appointment_type_id" uuid NOT NULL,
	"first_date" date NOT NULL,
	"last_date" date NOT NULL,
	"weekly" boolean NOT NULL,
	"start_time" text NOT NULL,
	"end_time" text NOT NULL,
	"created_by_staff_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "booking_slots" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organisation_id" uuid NOT NULL,
	"session_id" uuid NOT NULL,
	"clinician_id" uuid NOT NULL,
	"location_id" uuid NOT NULL,
	"appointment_type_id" uuid NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"blocked_at" timestamp with time zone,
	"blocked_by_staff_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "booking_slots_range_check" CHECK ("booking_slots"."ends_at" > "booking_slots"."starts_at")
);
--> statement-breakpoint
CREATE TABLE "bookings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organisation_id" uuid NOT NULL,
	"conversation_id" uuid NOT NULL,
	"slot_id" uuid NOT NULL,
	"clinician_id" uuid NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"sequence" integer DEFAULT 0 NOT NULL,
	"booked_by" text NOT NULL,
	"booked_by_staff_id" uuid,
	"booked_at" timestamp with time zone NOT NULL,
	"cancelled_at" timestamp with time zone,
	"cancelled_by" text,
	"cancelled_by_staff_id" uuid,
	"cancel_reason" text,
	"reminder_sent_at" timestamp with time zone,
	CONSTRAINT "bookings_range_check" CHECK ("bookings"."ends_at" > "bookings"."starts_at")
);
--> statement-breakpoint
ALTER TABLE "appointment_types" ADD CONSTRAINT "appointment_types_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_clinicians" ADD CONSTRAINT "booking_clinicians_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_holds" ADD CONSTRAINT "booking_holds_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_holds" ADD CONSTRAINT "booking_holds_slot_id_booking_slots_id_fk" FOREIGN KEY ("slot_id") REFERENCES "public"."booking_slots"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_locations" ADD CONSTRAINT "booking_locations_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_sessions" ADD CONSTRAINT "booking_sessions_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_sessions" ADD CONSTRAINT "booking_sessions_clinician_id_booking_clinicians_id_fk" FOREIGN KEY ("clinician_id") REFERENCES "public"."booking_clinicians"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_sessions" ADD CONSTRAINT "booking_sessions_location_id_booking_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."booking_locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_sessions" ADD CONSTRAINT "booking_sessions_appointment_type_id_appointment_types_id_fk" FOREIGN KEY ("appointment_type_id") REFERENCES "public"."appointment_types"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_sessions" ADD CONSTRAINT "booking_sessions_created_by_staff_id_staff_users_id_fk" FOREIGN KEY ("created_by_staff_id") REFERENCES "public"."staff_users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_slots" ADD CONSTRAINT "booking_slots_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_slots" ADD CONSTRAINT "booking_slots_session_id_booking_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."booking_sessions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_slots" ADD CONSTRAINT "booking_slots_clinician_id_booking_clinicians_id_fk" FOREIGN KEY ("clinician_id") REFERENCES "public"."booking_clinicians"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_slots" ADD CONSTRAINT "booking_slots_location_id_booking_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."booking_locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_slots" ADD CONSTRAINT "booking_slots_appointment_type_id_appointment_types_id_fk" FOREIGN KEY ("appointment_type_id") REFERENCES "public"."appointment_types"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_slots" ADD CONSTRAINT "booking_slots_blocked_by_staff_id_staff_users_id_fk" FOREIGN KEY ("blocked_by_staff_id") REFERENCES "public"."staff_users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_slot_id_booking_slots_id_fk" FOREIGN KEY ("slot_id") REFERENCES "public"."booking_slots"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_clinician_id_booking_clinicians_id_fk" FOREIGN KEY ("clinician_id") REFERENCES "public"."booking_clinicians"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_booked_by_staff_id_staff_users_id_fk" FOREIGN KEY ("booked_by_staff_id") REFERENCES "public"."staff_users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_cancelled_by_staff_id_staff_users_id_fk" FOREIGN KEY ("cancelled_by_staff_id") REFERENCES "public"."staff_users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "appointment_types_org_idx" ON "appointment_types" USING btree ("organisation_id","name");--> statement-breakpoint
CREATE INDEX "booking_clinicians_org_idx" ON "booking_clinicians" USING btree ("organisation_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "booking_holds_slot_idx" ON "booking_holds" USING btree ("slot_id");--> statement-breakpoint
CREATE INDEX "booking_locations_org_idx" ON "booking_locations" USING btree ("organisation_id","name");--> statement-breakpoint
CREATE INDEX "booking_sessions_org_idx" ON "booking_sessions" USING btree ("organisation_id","first_date");--> statement-breakpoint
CREATE INDEX "booking_slots_type_starts_idx" ON "booking_slots" USING btree ("organisation_id","appointment_type_id","starts_at");--> statement-breakpoint
CREATE INDEX "booking_slots_clinician_starts_idx" ON "booking_slots" USING btree ("clinician_id","starts_at");--> statement-breakpoint
CREATE INDEX "booking_slots_location_starts_idx" ON "booking_slots" USING btree ("location_id","starts_at");--> statement-breakpoint
CREATE UNIQUE INDEX "bookings_slot_live_idx" ON "bookings" USING btree ("slot_id") WHERE cancelled_at IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "bookings_conversation_live_idx" ON "bookings" USING btree ("conversation_id") WHERE cancelled_at IS NULL;--> statement-breakpoint
CREATE INDEX "bookings_conversation_idx" ON "bookings" USING btree ("conversation_id","booked_at");--> statement-breakpoint
CREATE INDEX "bookings_org_starts_idx" ON "bookings" USING btree ("organisation_id","starts_at");--> statement-breakpoint
CREATE INDEX "bookings_live_starts_idx" ON "bookings" USING btree ("starts_at") WHERE cancelled_at IS NULL AND reminder_sent_at IS NULL;--> statement-breakpoint
ALTER TABLE "bookings" ADD CONSTRAINT "bookings_clinician_no_overlap" EXCLUDE USING gist ("clinician_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&) WHERE ("cancelled_at" IS NULL);
