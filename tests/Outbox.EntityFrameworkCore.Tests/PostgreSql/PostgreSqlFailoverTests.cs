using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.TestInfrastructure;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>
/// A failover under a running dispatcher: a primary and its streaming standby (throwaway clusters of the test's own),
/// one multi-host connection string naming both, the primary killed (<c>-m immediate</c>) and the standby promoted.
/// </summary>
public sealed class PostgreSqlFailoverTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dispatcher_PrimaryKilledAndStandbyPromoted_DeliversAMessagePublishedAfterThePromote()
    {
        LocalPostgresCluster primary;
        try
        {
            primary = await LocalPostgresCluster.StartAsync(cancellationToken: Ct);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PostgreSQL binaries (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
            throw;
        }

        await using (primary)
        {
            await using (var admin = new NpgsqlConnection(primary.ConnectionString))
            {
                await admin.OpenAsync(Ct);
                await using var create = new NpgsqlCommand("CREATE DATABASE outbox_failover", admin);
                await create.ExecuteNonQueryAsync(Ct);
            }

            await using var standby = await primary.StartStandbyAsync(cancellationToken: Ct);

            // The settings docs/operations.md recommends for failover: both hosts, only the one that takes writes, and a
            // short memory of which host was the standby.
            var connectionString = new NpgsqlConnectionStringBuilder
            {
                Host = $"127.0.0.1:{primary.Port},127.0.0.1:{standby.Port}",
                Username = "postgres",
                Database = "outbox_failover",
                TargetSessionAttributes = "primary",
                HostRecheckSeconds = 1,
            }.ConnectionString;
            await using var database = new PostgreSqlTestDatabase(connectionString);
            await database.InitializeAsync();

            var transport = new InMemoryTransport();
            using var host = OutboxTestHost.Build(database, transport);
            await host.StartAsync(Ct);
            await PublishAsync(database, "before");
            await WaitUntilAsync(() => DistinctSent(transport) >= 1, "the message published before the failover was delivered");

            // The standby has replayed the outbox's last change before the primary goes: what was committed is there.
            await primary.WaitUntilReplayedByAsync(standby, Ct);
            await primary.StopAsync(immediate: true, Ct);
            await standby.PromoteAsync(Ct);

            // The publisher is a client like any other: its pooled connections to the old primary broke, so it tries again.
            await PublishWhenWritableAsync(database, "after");
            await WaitUntilAsync(() => DistinctSent(transport) >= 2, "the message published after the promote was delivered");
            await host.StopAsync(Ct);
            Assert.Equal(["before", "after"], transport.Sent.Select(m => m.MessageId).Distinct().Select(id => Number(transport, id)));
        }
    }

    private static string Number(InMemoryTransport transport, Guid id)
    {
        var payload = System.Text.Encoding.UTF8.GetString(transport.Sent.First(m => m.MessageId == id).Payload.Span);
        return payload.Contains("\"before\"", StringComparison.Ordinal) ? "before" : payload.Contains("\"after\"", StringComparison.Ordinal) ? "after" : payload;
    }

    private static int DistinctSent(InMemoryTransport transport) => transport.Sent.Select(m => m.MessageId).Distinct().Count();

    private static async Task PublishAsync(PostgreSqlTestDatabase database, string number)
    {
        await using var context = database.CreateContext();
        context.Publish(new OrderPlaced(Guid.NewGuid(), number, 1));
        await context.SaveChangesAsync(Ct);
    }

    private static async Task PublishWhenWritableAsync(PostgreSqlTestDatabase database, string number)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            try
            {
                await PublishAsync(database, number);
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or InvalidOperationException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, Ct);
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(50, Ct);
        }
    }
}
