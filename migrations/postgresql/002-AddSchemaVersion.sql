START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202040435_AddSchemaVersion') THEN
    CREATE TABLE outbox_schema (
        id integer NOT NULL,
        version integer NOT NULL,
        CONSTRAINT pk_outbox_schema PRIMARY KEY (id)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202040435_AddSchemaVersion') THEN
    INSERT INTO outbox_schema (id, version)
    VALUES (1, 2);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202040435_AddSchemaVersion') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261202040435_AddSchemaVersion', '10.0.15');
    END IF;
END $EF$;
COMMIT;
