using Microsoft.EntityFrameworkCore;
using Npgsql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>PostgreSQL-only properties of the schema the model creates.</summary>
public sealed class PostgreSqlSchemaTests(PostgreSqlFixture fixture) : IClassFixture<PostgreSqlFixture>
{
    [Fact]
    public async Task OutboxTable_HasQueueStorageParameters()
    {
        await using var database = (PostgreSqlTestDatabase)await fixture.CreateDatabaseAsync();
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("SELECT reloptions FROM pg_class WHERE relname = 'outbox_messages'", connection);
        var options = (string[])(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
        Assert.Contains("fillfactor=50", options);
        Assert.Contains("autovacuum_vacuum_scale_factor=0.01", options);
    }

    [Fact]
    public async Task OutboxColumns_HaveProviderTypes()
    {
        await using var database = (PostgreSqlTestDatabase)await fixture.CreateDatabaseAsync();
        await using var context = database.CreateContext();
        var types = await context.Database
            .SqlQueryRaw<ColumnType>("SELECT column_name AS \"Name\", data_type AS \"Type\" FROM information_schema.columns WHERE table_name = 'outbox_messages'")
            .ToDictionaryAsync(c => c.Name, c => c.Type, TestContext.Current.CancellationToken);
        Assert.Equal("bigint", types["id"]);
        Assert.Equal("uuid", types["message_id"]);
        Assert.Equal("bytea", types["payload"]);
        Assert.Equal("timestamp with time zone", types["lease_expires_at"]);
    }

    private sealed record ColumnType(string Name, string Type);
}
