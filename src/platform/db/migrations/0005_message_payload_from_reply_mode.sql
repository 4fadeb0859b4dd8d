-- Data migration: a message's reply mode moves from its own column into the message kind's payload
-- (features/messages/message.kind.ts). The column is dropped by the next migration, once copied.
UPDATE "conversations" SET "payload" = jsonb_build_object('replyMode', "reply_mode") WHERE "kind" = 'message';
