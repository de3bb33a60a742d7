START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202051437_CreatedAtDatabaseClock') THEN
    ALTER TABLE outbox_messages ALTER COLUMN created_at SET DEFAULT (now());
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202051437_CreatedAtDatabaseClock') THEN
    UPDATE inbox_messages_schema SET version = 3
    WHERE id = 1;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202051437_CreatedAtDatabaseClock') THEN
    UPDATE outbox_messages_schema SET version = 3
    WHERE id = 1;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202051437_CreatedAtDatabaseClock') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261202051437_CreatedAtDatabaseClock', '10.0.15');
    END IF;
END $EF$;
COMMIT;
