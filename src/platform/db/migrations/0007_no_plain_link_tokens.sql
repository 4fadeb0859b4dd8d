-- No working link in the database in plain text (a copy or a backup would open every link whose date of
-- birth sits beside it). NHS login sign-ins now keep their returnTo (for a link, /<token>/nhs-login)
-- sealed with a key derived from the state only the browser holds (features/nhs-login/nhs-login.service.ts).
-- Sign-ins in flight are dropped with their plain returnTo: those people see "start again".
DELETE FROM "nhs_login_transactions";--> statement-breakpoint
ALTER TABLE "nhs_login_transactions" RENAME COLUMN "return_to" TO "return_to_sealed";--> statement-breakpoint
-- A text's link, like its security code, is needed only until the provider has it (features/sms/outbox.repository.ts).
UPDATE "outbound_sms" SET "personalisation" = "personalisation" - 'code' - 'link' WHERE "status" NOT IN ('queued', 'sending');
