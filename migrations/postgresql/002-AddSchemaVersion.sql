START TRANSACTION;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202045647_AddSchemaVersion') THEN
    CREATE TABLE inbox_messages_schema (
        id integer NOT NULL,
        version integer NOT NULL,
        CONSTRAINT pk_inbox_messages_schema PRIMARY KEY (id)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202045647_AddSchemaVersion') THEN
    CREATE TABLE outbox_messages_schema (
        id integer NOT NULL,
        version integer NOT NULL,
        CONSTRAINT pk_outbox_messages_schema PRIMARY KEY (id)
    );
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202045647_AddSchemaVersion') THEN
    INSERT INTO inbox_messages_schema (id, version)
    VALUES (1, 2);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202045647_AddSchemaVersion') THEN
    INSERT INTO outbox_messages_schema (id, version)
    VALUES (1, 2);
    END IF;
END $EF$;

DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20261202045647_AddSchemaVersion') THEN
    INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
    VALUES ('20261202045647_AddSchemaVersion', '10.0.15');
    END IF;
END $EF$;
COMMIT;
