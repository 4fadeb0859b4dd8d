-- Wrong security codes are counted on the link across codes (issue 10, item 7): three codes' worth of
-- wrong tries in a row lock the link until staff re-send it (features/links/links.service.ts).
ALTER TABLE "links" ADD COLUMN "code_failures_in_a_row" integer DEFAULT 0 NOT NULL;
