-- The API's Idempotency-Key header (issue 15): the first response to each key, per API key, kept 24 hours, so
-- a client that sends the same creating POST again (a time-out, a retry) gets that response and nothing is
-- sent twice. See src/features/api/api-idempotency.service.ts.
CREATE TABLE "api_idempotency_keys" (
	"api_key_id" uuid NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_fingerprint" text NOT NULL,
	"status" text NOT NULL,
	"response_status" integer,
	"response_headers" jsonb,
	"response_body" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"locked_until" timestamp with time zone NOT NULL,
	CONSTRAINT "api_idempotency_keys_api_key_id_idempotency_key_pk" PRIMARY KEY("api_key_id","idempotency_key"),
	CONSTRAINT "api_idempotency_keys_status_check" CHECK ("api_idempotency_keys"."status" IN ('in_progress', 'done'))
);
--> statement-breakpoint
ALTER TABLE "api_idempotency_keys" ADD CONSTRAINT "api_idempotency_keys_api_key_id_api_keys_id_fk" FOREIGN KEY ("api_key_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_idempotency_keys_created_idx" ON "api_idempotency_keys" USING btree ("created_at");