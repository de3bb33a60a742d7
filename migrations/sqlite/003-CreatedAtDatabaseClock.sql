-- Idempotent: every statement is guarded (IF NOT EXISTS, INSERT OR IGNORE); safe to run again.
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
