-- Idempotent: every statement is guarded (IF NOT EXISTS, INSERT OR IGNORE); safe to run again.
-- A table rebuild (copy, drop, rename) runs in one transaction; running it again rebuilds the table again.
BEGIN TRANSACTION;
UPDATE "inbox_messages_schema" SET "version" = 4
WHERE "id" = 1;
SELECT changes();


UPDATE "outbox_messages_schema" SET "version" = 4
WHERE "id" = 1;
SELECT changes();


DROP TABLE IF EXISTS "ef_temp_outbox_dead_letters";

CREATE TABLE IF NOT EXISTS "ef_temp_outbox_dead_letters" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_outbox_dead_letters" PRIMARY KEY,
    "message_id" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "message_type" TEXT NOT NULL,
    "partition_key" TEXT NULL,
    "sequence_number" INTEGER NULL,
    "content_type" TEXT NOT NULL,
    "headers" TEXT NULL,
    "trace_parent" TEXT NULL,
    "created_at" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "reason" TEXT NOT NULL,
    "dead_lettered_at" TEXT NOT NULL,
    "payload" BLOB NOT NULL
);

INSERT INTO "ef_temp_outbox_dead_letters" ("id", "attempts", "content_type", "created_at", "dead_lettered_at", "destination", "headers", "message_id", "message_type", "partition_key", "payload", "reason", "sequence_number", "trace_parent")
SELECT "id", "attempts", "content_type", "created_at", "dead_lettered_at", "destination", "headers", "message_id", "message_type", "partition_key", "payload", "reason", "sequence_number", "trace_parent"
FROM "outbox_dead_letters";

DROP TABLE "outbox_dead_letters";

ALTER TABLE "ef_temp_outbox_dead_letters" RENAME TO "outbox_dead_letters";

CREATE INDEX IF NOT EXISTS "ix_outbox_dead_letters_dead_lettered_at" ON "outbox_dead_letters" ("dead_lettered_at");

CREATE INDEX IF NOT EXISTS "ix_outbox_dead_letters_partition_key" ON "outbox_dead_letters" ("partition_key") WHERE partition_key IS NOT NULL;

COMMIT;

INSERT OR IGNORE INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261202173822_DeadLetterPayloadLast', '10.0.15');
