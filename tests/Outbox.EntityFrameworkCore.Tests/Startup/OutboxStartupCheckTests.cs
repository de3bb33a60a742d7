using System.Net;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Inbox;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Startup;

/// <summary>
/// The newcomer's mistakes, caught when the host starts with the fix in the message (issue 15): no tables, tables older
/// than the model, a store model without AddOutbox(), an empty or missing connection string, a consumer with no
/// transport; and the unit of work that published but never saved.
/// </summary>
public sealed class OutboxStartupCheckTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"outbox-startup-{Guid.NewGuid():N}");

    public OutboxStartupCheckTests() => Directory.CreateDirectory(_folder);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StartAsync_SqliteWithoutTables_FailsNamingTheMigrationCommandAndTheScript()
    {
        using var host = SqliteHost(Sqlite("empty.db"));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("The database of TestDbContext has no table outbox_messages, outbox_dead_letters, outbox_sequences", error.Message, StringComparison.Ordinal);
        Assert.Contains("no such table", error.Message, StringComparison.Ordinal);
        Assert.Contains("dotnet ef migrations add", error.Message, StringComparison.Ordinal);
        Assert.Contains("dotnet ef database update", error.Message, StringComparison.Ordinal);
        Assert.Contains("migrations/sqlite/outbox.sql", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_PostgreSqlWithoutTables_FailsNamingTheMigrationCommandAndTheScript()
    {
        var server = await PostgresServer.AcquireAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("outbox_startup", Ct);
        using var host = PostgreSqlHost(connectionString);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("has no table outbox_messages", error.Message, StringComparison.Ordinal);
        Assert.Contains("42P01", error.Message, StringComparison.Ordinal);
        Assert.Contains("dotnet ef migrations add", error.Message, StringComparison.Ordinal);
        Assert.Contains("migrations/postgresql/outbox.sql", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_PostgreSqlWithTables_Starts()
    {
        var server = await PostgresServer.AcquireAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("outbox_startup", Ct);
        await using (var context = PostgreSqlContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
        }

        using var host = PostgreSqlHost(connectionString);
        await host.StartAsync(Ct);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task StartAsync_OutboxTableMissingAColumn_FailsSayingTheSchemaIsOlderThanTheLibrary()
    {
        var connectionString = Sqlite("old.db");
        await using (var context = SqliteContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
            await context.Database.ExecuteSqlRawAsync("ALTER TABLE outbox_messages DROP COLUMN trace_parent", Ct);
        }

        using var host = SqliteHost(connectionString);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("older than this version of Outbox", error.Message, StringComparison.Ordinal);
        Assert.Contains("outbox_messages.trace_parent", error.Message, StringComparison.Ordinal);
        Assert.Contains("dotnet ef migrations add UpgradeOutbox", error.Message, StringComparison.Ordinal);
        Assert.Contains("docs/upgrading.md", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_SqliteSchemaVersionBehind_FailsNamingTheMigrationCommandAndTheDeltaScript()
    {
        var connectionString = Sqlite("behind.db");
        await using (var context = SqliteContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
            await context.Database.ExecuteSqlRawAsync("UPDATE outbox_messages_schema SET version = 1", Ct);
        }

        using var host = SqliteHost(connectionString);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains($"The outbox and inbox tables of TestDbContext are at schema version 1 (read from outbox_messages_schema), but this version of Outbox needs schema version {OutboxSchemaVersion.Current}: the database is behind.", error.Message, StringComparison.Ordinal);
        Assert.Contains("`dotnet ef database update`", error.Message, StringComparison.Ordinal);
        Assert.Contains("apply the delta script(s) migrations/sqlite/002-AddSchemaVersion.sql", error.Message, StringComparison.Ordinal);
        Assert.Contains("or the cumulative migrations/sqlite/outbox.sql", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("has no table", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_SqliteTablesOfVersion1WithoutTheSchemaTable_FailsSayingTheDatabaseIsBehind()
    {
        var connectionString = Sqlite("v1.db");
        await using (var context = SqliteContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
            await context.Database.ExecuteSqlRawAsync("DROP TABLE outbox_messages_schema", Ct);
        }

        using var host = SqliteHost(connectionString);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("are at schema version 1 (no table outbox_messages_schema, which version 2 added:", error.Message, StringComparison.Ordinal);
        Assert.Contains("the database is behind", error.Message, StringComparison.Ordinal);
        Assert.Contains("`dotnet ef database update`", error.Message, StringComparison.Ordinal);
        Assert.Contains("migrations/sqlite/002-AddSchemaVersion.sql", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_PostgreSqlSchemaVersionBehind_FailsNamingTheMigrationCommandAndTheDeltaScript()
    {
        var server = await PostgresServer.AcquireAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("outbox_startup", Ct);
        await using (var context = PostgreSqlContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
            await context.Database.ExecuteSqlRawAsync("UPDATE outbox_messages_schema SET version = 1", Ct);
        }

        using var host = PostgreSqlHost(connectionString);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains($"are at schema version 1 (read from outbox_messages_schema), but this version of Outbox needs schema version {OutboxSchemaVersion.Current}", error.Message, StringComparison.Ordinal);
        Assert.Contains("`dotnet ef database update`", error.Message, StringComparison.Ordinal);
        Assert.Contains("apply the delta script(s) migrations/postgresql/002-AddSchemaVersion.sql", error.Message, StringComparison.Ordinal);
        Assert.Contains("psql -v ON_ERROR_STOP=1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_PostgreSqlSchemaVersionAhead_WarnsAndStarts()
    {
        var server = await PostgresServer.AcquireAsync(Ct);
        var connectionString = await server.CreateDatabaseAsync("outbox_startup", Ct);
        await using (var context = PostgreSqlContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
            await context.Database.ExecuteSqlRawAsync("UPDATE outbox_messages_schema SET version = 99", Ct);
        }

        var logs = new LogCapture();
        using var host = PostgreSqlHost(connectionString, logs);
        await host.StartAsync(Ct);
        await host.StopAsync(Ct);

        var warning = Assert.Single(logs.Entries, e => e.Id.Id == 1400);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains($"are at schema version 99 (outbox_messages_schema), newer than the version {OutboxSchemaVersion.Current} this version of Outbox knows", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_SqliteSchemaVersionCurrent_StartsWithoutWarning()
    {
        var connectionString = Sqlite("current.db");
        await using (var context = SqliteContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
            Assert.Equal(OutboxSchemaVersion.Current, await context.Set<OutboxSchemaRecord>().Select(r => r.Version).SingleAsync(Ct));
        }

        var logs = new LogCapture();
        using var host = SqliteHost(connectionString, logs);
        await host.StartAsync(Ct);
        await host.StopAsync(Ct);

        Assert.DoesNotContain(logs.Entries, e => e.Id.Id == 1400);
    }

    [Fact]
    public async Task StartAsync_SqliteWithTables_Starts()
    {
        var connectionString = Sqlite("ready.db");
        await using (var context = SqliteContext(connectionString))
        {
            await context.Database.EnsureCreatedAsync(Ct);
        }

        using var host = SqliteHost(connectionString);
        await host.StartAsync(Ct);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task StartAsync_StoreModelWithoutAddOutbox_FailsSayingToCallAddOutbox()
    {
        var builder = Builder();
        builder.Services.AddDbContext<NoOutboxContext>((sp, o) => o.UseSqlite(Sqlite("plain.db")).UseOutbox(sp));
        builder.Services.AddOutbox().UseSqlite<NoOutboxContext>().UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("The model of NoOutboxContext has no outbox tables, but UseSqlite<NoOutboxContext>() keeps the outbox there", error.Message, StringComparison.Ordinal);
        Assert.Contains("modelBuilder.AddOutbox()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_EmptyConnectionString_FailsNamingWhereToSetIt()
    {
        using var host = SqliteHost(connectionString: "");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("TestDbContext has no connection string (it is empty or missing)", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings:Name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_ConnectionStringMissingFromConfiguration_FailsNamingWhereToSetIt()
    {
        var builder = Builder();
        var missing = builder.Configuration.GetConnectionString("Shop"); // no such key: null
        builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseNpgsql(missing).UseOutbox(sp));
        builder.Services.AddOutbox().UsePostgreSql<TestDbContext>().UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Null(missing);
        Assert.Contains("TestDbContext has no connection string", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings__Name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_DatabaseUnreachable_WarnsAndStarts()
    {
        var logs = new LogCapture();
        using var host = PostgreSqlHost($"Host=127.0.0.1;Port={ClosedPort()};Username=postgres;Timeout=5", logs);

        await host.StartAsync(Ct);
        await host.StopAsync(Ct);

        var warning = Assert.Single(logs.Entries, e => e.Id.Id == 1201);
        Assert.Contains("Could not reach the database of TestDbContext at start-up", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_ConsumerWithHandlersButNoTransport_WarnsNamingTheTransportCalls()
    {
        var connectionString = Sqlite("consumer.db");
        var builder = Builder();
        var logs = new LogCapture();
        builder.Logging.AddProvider(logs);
        builder.Services.AddDbContext<InboxTestDbContext>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
        builder.Services.AddOutboxConsumer<InboxTestDbContext>("ledger", c => c.AddHandler<AccountCredited, InboxModelTests.NoopHandler>());
        using var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<InboxTestDbContext>().Database.EnsureCreatedAsync(Ct);
        }

        await host.StartAsync(Ct);
        await host.StopAsync(Ct);

        var warning = Assert.Single(logs.Entries, e => e.Id.Id == 2101);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("Consumer ledger has handlers (" + typeof(AccountCredited).FullName + ") but no transport delivers messages to it", warning.Message, StringComparison.Ordinal);
        Assert.Contains(".UseRabbitMq(queue:", warning.Message, StringComparison.Ordinal);
        Assert.Contains(".UseHttp() with app.MapOutboxHttpInbox(", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_ConsumerWithTheInboxTablesMissing_FailsNamingThem()
    {
        var builder = Builder();
        builder.Services.AddDbContext<InboxTestDbContext>((sp, o) => o.UseSqlite(Sqlite("no-inbox.db")).UseOutbox(sp));
        builder.Services.AddOutboxConsumer<InboxTestDbContext>("ledger", c => c.AddHandler<AccountCredited, InboxModelTests.NoopHandler>());
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("has no table inbox_messages, inbox_dead_letters, inbox_sequences", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_ConsumerWithTheInboxSchemaVersionBehind_FailsNamingInboxSchema()
    {
        var connectionString = Sqlite("inbox-behind.db");
        var builder = Builder();
        builder.Services.AddDbContext<InboxTestDbContext>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
        builder.Services.AddOutboxConsumer<InboxTestDbContext>("ledger", c => c.AddHandler<AccountCredited, InboxModelTests.NoopHandler>());
        using var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<InboxTestDbContext>();
            await context.Database.EnsureCreatedAsync(Ct);
            await context.Database.ExecuteSqlRawAsync("UPDATE inbox_messages_schema SET version = 1", Ct);
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("are at schema version 1 (read from inbox_messages_schema)", error.Message, StringComparison.Ordinal);
        Assert.Contains("migrations/sqlite/002-AddSchemaVersion.sql", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnsureCreated_OutboxAndInboxOfTwoContextsInOneDatabase_EachCreatesItsOwnVersionTable()
    {
        // A service whose outbox and inbox are mapped by two DbContexts on one database: no table is mapped twice.
        var connectionString = Sqlite("two-contexts.db");
        await using (var outbox = SqliteContext(connectionString))
        {
            await outbox.Database.EnsureCreatedAsync(Ct);
        }

        await using var inbox = new InboxTestDbContext(new DbContextOptionsBuilder<InboxTestDbContext>().UseSqlite(connectionString).Options);
        await inbox.GetService<Microsoft.EntityFrameworkCore.Storage.IRelationalDatabaseCreator>().CreateTablesAsync(Ct);

        Assert.Equal(OutboxSchemaVersion.Current, await inbox.Set<InboxSchemaRecord>().Select(r => r.Version).SingleAsync(Ct));
    }

    [Fact]
    public async Task Dispose_PublishedWithoutSaveChanges_WarnsNamingTheMessageType()
    {
        var logs = new LogCapture();
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddProvider(logs));
        services.AddDbContext<TestDbContext>((sp, o) => o.UseSqlite(Sqlite("unsaved.db")).UseOutbox(sp));
        await using var provider = services.BuildServiceProvider();

        await using (var scope = provider.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TestDbContext>().Publish(new AccountCredited("acc-1", 10));
        }

        var warning = Assert.Single(logs.Entries, e => e.Id.Id == 1210);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("A TestDbContext ended (disposed, or returned to its pool) with 1 published message(s) that were never saved (" + typeof(AccountCredited).FullName + ")", warning.Message, StringComparison.Ordinal);
        Assert.Contains("call SaveChanges or SaveChangesAsync", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_PublishedAndSaved_DoesNotWarn()
    {
        var logs = new LogCapture();
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddProvider(logs));
        var connectionString = Sqlite("saved.db");
        services.AddDbContext<TestDbContext>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
        await using var provider = services.BuildServiceProvider();

        await using (var scope = provider.CreateAsyncScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            await context.Database.EnsureCreatedAsync(Ct);
            context.Publish(new AccountCredited("acc-1", 10));
            await context.SaveChangesAsync(Ct);
        }

        await using (var scope = provider.CreateAsyncScope())
        {
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<TestDbContext>().Set<OutboxRecord>().CountAsync(Ct));
        }

        Assert.DoesNotContain(logs.Entries, e => e.Id.Id == 1210);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Sqlite(string file) => new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder, file) }.ToString();

    private static HostApplicationBuilder Builder()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        return builder;
    }

    private static IHost SqliteHost(string connectionString, LogCapture? logs = null)
    {
        var builder = Builder();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
        builder.Services.AddOutbox().UseSqlite<TestDbContext>().UseInMemoryTransport();
        return builder.Build();
    }

    private static IHost PostgreSqlHost(string connectionString, LogCapture? logs = null)
    {
        var builder = Builder();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseNpgsql(connectionString).UseOutbox(sp));
        builder.Services.AddOutbox().UsePostgreSql<TestDbContext>().UseInMemoryTransport();
        return builder.Build();
    }

    private static TestDbContext SqliteContext(string connectionString) =>
        new(new DbContextOptionsBuilder<TestDbContext>().UseSqlite(connectionString).Options);

    private static TestDbContext PostgreSqlContext(string connectionString) =>
        new(new DbContextOptionsBuilder<TestDbContext>().UseNpgsql(connectionString).Options);

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public sealed class NoOutboxContext(DbContextOptions<NoOutboxContext> options) : DbContext(options);
}
