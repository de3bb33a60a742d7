-- Idempotent: every statement is guarded (IF NOT EXISTS, INSERT OR IGNORE); safe to run again.
-- A table rebuild (copy, drop, rename) runs in one transaction; running it again rebuilds the table again.
CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" (
    "MigrationId" TEXT NOT NULL CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY,
    "ProductVersion" TEXT NOT NULL
);

BEGIN TRANSACTION;
CREATE TABLE IF NOT EXISTS "inbox_dead_letters" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_inbox_dead_letters" PRIMARY KEY AUTOINCREMENT,
    "consumer" TEXT NOT NULL,
    "message_id" TEXT NULL,
    "message_type" TEXT NULL,
    "partition_key" TEXT NULL,
    "payload" BLOB NOT NULL,
    "content_type" TEXT NULL,
    "headers" TEXT NULL,
    "trace_parent" TEXT NULL,
    "reason" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "received_at" TEXT NULL,
    "dead_lettered_at" TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS "inbox_messages" (
    "consumer" TEXT NOT NULL,
    "message_id" TEXT NOT NULL,
    "received_at" TEXT NOT NULL,
    "processed_at" TEXT NULL,
    CONSTRAINT "pk_inbox_messages" PRIMARY KEY ("consumer", "message_id")
);

CREATE TABLE IF NOT EXISTS "inbox_sequences" (
    "consumer" TEXT NOT NULL,
    "partition_key" TEXT NOT NULL,
    "last_sequence" INTEGER NOT NULL,
    CONSTRAINT "pk_inbox_sequences" PRIMARY KEY ("consumer", "partition_key")
);

CREATE TABLE IF NOT EXISTS "outbox_dead_letters" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_outbox_dead_letters" PRIMARY KEY,
    "message_id" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "message_type" TEXT NOT NULL,
    "partition_key" TEXT NULL,
    "sequence_number" INTEGER NULL,
    "payload" BLOB NOT NULL,
    "content_type" TEXT NOT NULL,
    "headers" TEXT NULL,
    "trace_parent" TEXT NULL,
    "created_at" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "reason" TEXT NOT NULL,
    "dead_lettered_at" TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS "outbox_messages" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_outbox_messages" PRIMARY KEY AUTOINCREMENT,
    "message_id" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "message_type" TEXT NOT NULL,
    "partition_key" TEXT NULL,
    "sequence_number" INTEGER NULL,
    "payload" BLOB NOT NULL,
    "content_type" TEXT NOT NULL,
    "headers" TEXT NULL,
    "trace_parent" TEXT NULL,
    "created_at" TEXT NOT NULL,
    "available_at" TEXT NULL,
    "attempts" INTEGER NOT NULL,
    "last_error" TEXT NULL,
    "lease_owner" TEXT NULL,
    "lease_expires_at" TEXT NULL
);

CREATE TABLE IF NOT EXISTS "outbox_sequences" (
    "partition_key" TEXT NOT NULL CONSTRAINT "pk_outbox_sequences" PRIMARY KEY,
    "last_sequence" INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS "ix_inbox_dead_letters_consumer_dead_lettered_at" ON "inbox_dead_letters" ("consumer", "dead_lettered_at");

CREATE INDEX IF NOT EXISTS "ix_inbox_messages_received_at" ON "inbox_messages" ("received_at");

CREATE INDEX IF NOT EXISTS "ix_outbox_dead_letters_dead_lettered_at" ON "outbox_dead_letters" ("dead_lettered_at");

CREATE INDEX IF NOT EXISTS "ix_outbox_dead_letters_partition_key" ON "outbox_dead_letters" ("partition_key") WHERE partition_key IS NOT NULL;

CREATE INDEX IF NOT EXISTS "ix_outbox_messages_partition_key_sequence" ON "outbox_messages" ("partition_key", "sequence_number") WHERE partition_key IS NOT NULL;

INSERT OR IGNORE INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261124134015_Initial', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
CREATE TABLE IF NOT EXISTS "inbox_messages_schema" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_inbox_messages_schema" PRIMARY KEY,
    "version" INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS "outbox_messages_schema" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_outbox_messages_schema" PRIMARY KEY,
    "version" INTEGER NOT NULL
);

INSERT OR IGNORE INTO "inbox_messages_schema" ("id", "version")
VALUES (1, 2);
SELECT changes();


INSERT OR IGNORE INTO "outbox_messages_schema" ("id", "version")
VALUES (1, 2);
SELECT changes();


INSERT OR IGNORE INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261202045655_AddSchemaVersion', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
UPDATE "inbox_messages_schema" SET "version" = 3
WHERE "id" = 1;
SELECT changes();


UPDATE "outbox_messages_schema" SET "version" = 3
WHERE "id" = 1;
SELECT changes();


INSERT OR IGNORE INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261202051440_CreatedAtDatabaseClock', '10.0.15');

COMMIT;

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
