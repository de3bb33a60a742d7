START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202173753_DeadLetterPayloadLast') THEN
    UPDATE inbox_messages_schema SET version = 4
    WHERE id = 1;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202173753_DeadLetterPayloadLast') THEN
    UPDATE outbox_messages_schema SET version = 4
    WHERE id = 1;
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202173753_DeadLetterPayloadLast') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261202173753_DeadLetterPayloadLast', '10.0.15');
    END IF;
END $EF$;
COMMIT;
