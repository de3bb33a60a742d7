namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>Which connection string the dispatcher's connections use.</summary>
internal static class PostgreSqlConnectionStrings
{
    public static string For(OutboxPostgreSqlOptions options, OutboxTables tables, Type contextType) =>
        options.ConnectionString ?? tables.ConnectionString
        ?? throw new InvalidOperationException(
            $"The PostgreSQL outbox store has no connection string: {contextType.Name} is not configured with one. " +
            $"Set OutboxPostgreSqlOptions.ConnectionString in UsePostgreSql<{contextType.Name}>(o => ...).");
}
