using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Outbox.Migrations;

/// <summary>
/// Generates the idempotent SQL scripts kept in <c>migrations/postgresql/</c> and <c>migrations/sqlite/</c> from the EF
/// Core migrations of this project: the cumulative <c>outbox.sql</c> and one delta script per schema version. Used by <c>Program</c> (to write them)
/// and by the drift test (to compare them).
/// </summary>
public static partial class OutboxScripts
{
    public static readonly IReadOnlyList<string> Providers = ["postgresql", "sqlite"];

    /// <summary>The cumulative script's path below the repository's <c>migrations</c> folder.</summary>
    public static string RelativePath(string provider) => Path.Combine(provider, "outbox.sql");

    /// <summary>
    /// The migrations of <paramref name="provider"/> in order. Migration <c>n</c> (from 1) makes schema version <c>n</c>:
    /// a version of the library that changes the tables adds one migration per provider and raises
    /// <c>OutboxSchemaVersion.Current</c> (the seed row of the <c>*_schema</c> tables) to the new count.
    /// </summary>
    public static IReadOnlyList<string> Migrations(string provider)
    {
        using var context = CreateContext(provider);
        return context.Database.GetMigrations().ToList();
    }

    /// <summary>
    /// The delta script of schema version <paramref name="version"/> (the migration with that number), below the
    /// <c>migrations</c> folder: <c>&lt;provider&gt;/&lt;version:000&gt;-&lt;MigrationName&gt;.sql</c>, e.g.
    /// <c>sqlite/002-AddSchemaVersion.sql</c>. Version 1 is the tables as first shipped.
    /// </summary>
    public static string DeltaRelativePath(string provider, int version)
    {
        var migration = Migrations(provider)[version - 1];
        return Path.Combine(provider, DeltaFileName(version, migration));
    }

    /// <summary><c>002-AddSchemaVersion.sql</c> for version 2 made by migration <c>20261202040447_AddSchemaVersion</c>.</summary>
    public static string DeltaFileName(int version, string migrationId) =>
        $"{version:000}-{migrationId[(migrationId.IndexOf('_', StringComparison.Ordinal) + 1)..]}.sql";

    /// <summary>Every script of <paramref name="provider"/>: the cumulative one and a delta per schema version.</summary>
    public static IReadOnlyList<(string RelativePath, string Script)> All(string provider)
    {
        var scripts = new List<(string, string)> { (RelativePath(provider), Generate(provider)) };
        var migrations = Migrations(provider);
        for (var i = 0; i < migrations.Count; i++)
        {
            scripts.Add((Path.Combine(provider, DeltaFileName(i + 1, migrations[i])), Generate(provider, i == 0 ? null : migrations[i - 1], migrations[i])));
        }

        return scripts;
    }

    public static OutboxSchemaContext CreateContext(string provider) => provider switch
    {
        "postgresql" => PostgreSqlOutboxContextFactory.Create(),
        "sqlite" => SqliteOutboxContextFactory.Create(),
        _ => throw new ArgumentException($"Unknown provider '{provider}': use {string.Join(" or ", Providers)}.", nameof(provider)),
    };

    /// <summary>
    /// PostgreSQL: exactly <c>dotnet ef migrations script --idempotent</c> (each migration guarded by
    /// <c>__EFMigrationsHistory</c>). SQLite: EF Core cannot script idempotently for SQLite, so the plain script's
    /// statements get <c>IF NOT EXISTS</c> / <c>OR IGNORE</c>, and a table rebuild is made one transaction that can run
    /// again; a migration with any other kind of statement makes this throw, to be handled by hand.
    /// </summary>
    /// <param name="provider"><c>postgresql</c> or <c>sqlite</c>.</param>
    /// <param name="fromMigration">The migration the database is at (exclusive); null for an empty database.</param>
    /// <param name="toMigration">The last migration to apply; null for the latest (the cumulative script).</param>
    public static string Generate(string provider, string? fromMigration = null, string? toMigration = null)
    {
        using var context = CreateContext(provider);
        var migrator = context.GetService<IMigrator>();
        if (provider == "postgresql")
        {
            return Normalize(migrator.GenerateScript(fromMigration, toMigration, MigrationsSqlGenerationOptions.Idempotent));
        }

        var script = migrator.GenerateScript(fromMigration, toMigration, MigrationsSqlGenerationOptions.Default);

        // A table rebuild (how SQLite alters a table: copy into ef_temp_<table>, drop, rename, recreate the indexes) is
        // written by EF Core in three transactions around PRAGMA foreign_keys. Merged into one, with the half-built copy
        // of an interrupted earlier run dropped first, it is atomic and can run again (each run rebuilds the table once
        // more). The library's tables have no foreign keys, so the PRAGMAs have nothing to guard.
        script = RebuildTransactionSplit().Replace(script, string.Empty);
        script = RebuildCopy().Replace(script, "DROP TABLE IF EXISTS \"$1\";\n\nCREATE TABLE \"$1\"");
        script = CreateTable().Replace(script, "CREATE TABLE IF NOT EXISTS \"");
        script = CreateIndex().Replace(script, m => $"CREATE {m.Groups[1].Value}INDEX IF NOT EXISTS \"");
        script = script.Replace("INSERT INTO \"__EFMigrationsHistory\"", "INSERT OR IGNORE INTO \"__EFMigrationsHistory\"", StringComparison.Ordinal);

        // The seed row of the schema version: inserted once; a later version's migration updates it (UPDATE is idempotent).
        // EF follows each data statement with SELECT changes(), which reads only.
        script = VersionRowInsert().Replace(script, "INSERT OR IGNORE INTO \"$1_schema\"");
        foreach (var statement in Statements(script))
        {
            if (!AllowedSqlite().IsMatch(statement))
            {
                throw new InvalidOperationException(
                    $"The SQLite script has a statement that cannot be made idempotent by adding IF NOT EXISTS: {statement.Split('\n')[0]} ... " +
                    "Write that migration's idempotent SQL by hand (see migrations/README.md).");
            }
        }

        var header = "-- Idempotent: every statement is guarded (IF NOT EXISTS, INSERT OR IGNORE); safe to run again.\n";
        if (script.Contains("\"ef_temp_", StringComparison.Ordinal))
        {
            header += "-- A table rebuild (copy, drop, rename) runs in one transaction; running it again rebuilds the table again.\n";
        }

        return Normalize(header + script);
    }

    private static IEnumerable<string> Statements(string script) =>
        script.Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => string.Join('\n', s.Split('\n').Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal))).Trim())
            .Where(s => s.Length > 0);

    private static string Normalize(string script) => script.ReplaceLineEndings("\n").TrimEnd() + "\n";

    [GeneratedRegex("INSERT INTO \"(\\w+)_schema\"")]
    private static partial Regex VersionRowInsert();

    [GeneratedRegex("COMMIT;\\s*PRAGMA foreign_keys = [01];\\s*BEGIN TRANSACTION;\\s*")]
    private static partial Regex RebuildTransactionSplit();

    [GeneratedRegex("CREATE TABLE \"(ef_temp_\\w+)\"")]
    private static partial Regex RebuildCopy();

    [GeneratedRegex("CREATE TABLE \"")]
    private static partial Regex CreateTable();

    [GeneratedRegex("CREATE (UNIQUE )?INDEX \"")]
    private static partial Regex CreateIndex();

    [GeneratedRegex("^(BEGIN TRANSACTION|COMMIT|CREATE TABLE IF NOT EXISTS|DROP TABLE IF EXISTS \"ef_temp_\\w+\"$|INSERT INTO \"ef_temp_\\w+\"|DROP TABLE \"\\w+\"$|ALTER TABLE \"ef_temp_\\w+\" RENAME TO \"\\w+\"$|CREATE (UNIQUE )?INDEX IF NOT EXISTS|INSERT OR IGNORE INTO \"(__EFMigrationsHistory|\\w+_schema)\"|UPDATE \"\\w+_schema\" SET|SELECT changes\\(\\)$)")]
    private static partial Regex AllowedSqlite();
}
