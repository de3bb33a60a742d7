-- Idempotent: every statement is guarded (IF NOT EXISTS, INSERT OR IGNORE); safe to run again.
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
