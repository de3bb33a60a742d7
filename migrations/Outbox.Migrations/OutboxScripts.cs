using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Outbox.Migrations;

/// <summary>
/// Generates the idempotent SQL scripts kept in <c>migrations/postgresql/outbox.sql</c> and
/// <c>migrations/sqlite/outbox.sql</c> from the EF Core migrations of this project. Used by <c>Program</c> (to write them)
/// and by the drift test (to compare them).
/// </summary>
public static partial class OutboxScripts
{
    public static readonly IReadOnlyList<string> Providers = ["postgresql", "sqlite"];

    /// <summary>The script's path below the repository's <c>migrations</c> folder.</summary>
    public static string RelativePath(string provider) => Path.Combine(provider, "outbox.sql");

    public static OutboxSchemaContext CreateContext(string provider) => provider switch
    {
        "postgresql" => PostgreSqlOutboxContextFactory.Create(),
        "sqlite" => SqliteOutboxContextFactory.Create(),
        _ => throw new ArgumentException($"Unknown provider '{provider}': use {string.Join(" or ", Providers)}.", nameof(provider)),
    };

    /// <summary>
    /// PostgreSQL: exactly <c>dotnet ef migrations script --idempotent</c> (each migration guarded by
    /// <c>__EFMigrationsHistory</c>). SQLite: EF Core cannot script idempotently for SQLite, so the plain script's
    /// statements get <c>IF NOT EXISTS</c> / <c>OR IGNORE</c>; a migration with any other kind of statement (a table
    /// rebuild) makes this throw, to be handled by hand.
    /// </summary>
    public static string Generate(string provider)
    {
        using var context = CreateContext(provider);
        var migrator = context.GetService<IMigrator>();
        if (provider == "postgresql")
        {
            return Normalize(migrator.GenerateScript(options: MigrationsSqlGenerationOptions.Idempotent));
        }

        var script = migrator.GenerateScript(options: MigrationsSqlGenerationOptions.Default);
        script = CreateTable().Replace(script, "CREATE TABLE IF NOT EXISTS \"");
        script = CreateIndex().Replace(script, m => $"CREATE {m.Groups[1].Value}INDEX IF NOT EXISTS \"");
        script = script.Replace("INSERT INTO \"__EFMigrationsHistory\"", "INSERT OR IGNORE INTO \"__EFMigrationsHistory\"", StringComparison.Ordinal);
        foreach (var statement in Statements(script))
        {
            if (!AllowedSqlite().IsMatch(statement))
            {
                throw new InvalidOperationException(
                    $"The SQLite script has a statement that cannot be made idempotent by adding IF NOT EXISTS: {statement.Split('\n')[0]} ... " +
                    "Write that migration's idempotent SQL by hand (see migrations/README.md).");
            }
        }

        return Normalize("-- Idempotent: every statement is guarded (IF NOT EXISTS, INSERT OR IGNORE); safe to run again.\n" + script);
    }

    private static IEnumerable<string> Statements(string script) =>
        script.Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => string.Join('\n', s.Split('\n').Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal))).Trim())
            .Where(s => s.Length > 0);

    private static string Normalize(string script) => script.ReplaceLineEndings("\n").TrimEnd() + "\n";

    [GeneratedRegex("CREATE TABLE \"")]
    private static partial Regex CreateTable();

    [GeneratedRegex("CREATE (UNIQUE )?INDEX \"")]
    private static partial Regex CreateIndex();

    [GeneratedRegex("^(BEGIN TRANSACTION|COMMIT|CREATE TABLE IF NOT EXISTS|CREATE (UNIQUE )?INDEX IF NOT EXISTS|INSERT OR IGNORE INTO \"__EFMigrationsHistory\")")]
    private static partial Regex AllowedSqlite();
}
