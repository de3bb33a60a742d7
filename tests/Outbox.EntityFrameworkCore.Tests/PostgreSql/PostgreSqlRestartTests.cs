using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.TestInfrastructure;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>
/// The database goes away under a running dispatcher and comes back: a throwaway cluster of the test's own (the shared
/// one serves other tests), stopped with <c>-m immediate</c> and started again.
/// </summary>
public sealed partial class PostgreSqlRestartTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dispatcher_DatabaseDownThenBack_BacksOffAtMostErrorMaxDelayAndDeliversOnceItIsBack()
    {
        LocalPostgresCluster cluster;
        try
        {
            cluster = await LocalPostgresCluster.StartAsync(cancellationToken: Ct);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PostgreSQL binaries (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
            throw;
        }

        await using (cluster)
        {
            await using (var admin = new NpgsqlConnection(cluster.ConnectionString))
            {
                await admin.OpenAsync(Ct);
                await using var create = new NpgsqlCommand("CREATE DATABASE outbox_restart", admin);
                await create.ExecuteNonQueryAsync(Ct);
            }

            var connectionString = new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Database = "outbox_restart" }.ConnectionString;
            await using var database = new PostgreSqlTestDatabase(connectionString);
            await database.InitializeAsync();

            var logs = new LogCapture();
            var transport = new InMemoryTransport();
            var defaults = new OutboxDispatcherOptions();
            using var host = OutboxTestHost.Build(database, transport, o => o.ErrorMaxDelay = defaults.ErrorMaxDelay, services: s => s.AddSingleton<ILoggerProvider>(logs));
            await host.StartAsync(Ct);
            await PublishAsync(database, "before");
            await WaitUntilAsync(() => transport.AcceptedCount >= 1, "the first message was delivered");

            await cluster.StopAsync(immediate: true, Ct);

            // Failure 1 and failure 31 of a loop are logged (1003): by the second entry of one loop, its pause has
            // long reached the cap, and the cap is what a returning database waits for at most.
            await WaitUntilAsync(() => LoopFailures(logs).GroupBy(f => f.Owner).Any(g => g.Count() >= 2), "a loop failed 31 times in a row");
            var failures = LoopFailures(logs);
            Assert.All(failures, f => Assert.True(f.Delay <= defaults.ErrorMaxDelay, $"paused {f.Delay} after a failure, above ErrorMaxDelay {defaults.ErrorMaxDelay}"));
            Assert.Equal(TimeSpan.FromSeconds(1), defaults.ErrorMaxDelay);

            await cluster.RestartAsync(immediate: true, Ct);
            NpgsqlConnection.ClearAllPools(); // the publisher's pooled connections broke; the dispatcher's own pool is left as it is
            await PublishAsync(database, "after");

            // Delivery is at least once: when the database went away between the first message's send and its
            // settlement, that message is sent again once the database is back (the receiver's inbox drops the copy).
            // So wait for the second message itself, not for a second send.
            await WaitUntilAsync(() => DistinctSent(transport) >= 2, "the message published after the restart was delivered");
            await host.StopAsync(Ct);
            Assert.Equal(2, DistinctSent(transport));
        }
    }

    private static int DistinctSent(InMemoryTransport transport) => transport.Sent.Select(m => m.MessageId).Distinct().Count();

    private static async Task PublishAsync(PostgreSqlTestDatabase database, string number)
    {
        await using var context = database.CreateContext();
        context.Publish(new OrderPlaced(Guid.NewGuid(), number, 1));
        await context.SaveChangesAsync(Ct);
    }

    private static List<(string Owner, TimeSpan Delay)> LoopFailures(LogCapture logs) =>
        [.. logs.Entries
            .Where(e => e.Id.Id == 1003)
            .Select(e => LoopFailed().Match(e.Message))
            .Where(m => m.Success)
            .Select(m => (m.Groups[1].Value, TimeSpan.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))];

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(50, Ct);
        }
    }

    [GeneratedRegex(@"loop ([0-9a-f-]+) failed; retrying in (\d+:\d\d:\d\d(?:\.\d+)?)")]
    private static partial Regex LoopFailed();
}
