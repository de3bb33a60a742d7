using Microsoft.EntityFrameworkCore;
using Npgsql;
using Outbox.Chaos.Model;
using Outbox.Chaos.Orchestration;

namespace Outbox.Chaos.Roles;

/// <summary>
/// Writes orders 1..N, each with its OrderPlaced message in the same transaction, keyed by customer. A transaction that
/// fails (database restarting) is retried; if its commit had in fact succeeded, the retry sees the order and moves on.
/// Prints "produced N" lines the orchestrator reads to time the server restarts.
/// </summary>
public static class ProducerRole
{
    public static async Task<int> RunAsync(ChaosOptions options, CancellationToken cancellationToken)
    {
        var contextOptions = new DbContextOptionsBuilder<OrdersDb>().UseNpgsql(options.OrdersConnection).UseOutbox().Options;
        long next;
        await using (var db = new OrdersDb(contextOptions))
        {
            next = (await RetryAsync(() => db.Orders.MaxAsync(o => (long?)o.Id, cancellationToken), cancellationToken) ?? 0) + 1;
        }

        // Several producer tasks commit concurrently (as request threads would), each taking the next order id.
        var pace = options.Rate > 0 ? TimeSpan.FromSeconds(1.0 / options.Rate) : TimeSpan.Zero;
        var started = DateTime.UtcNow;
        var issued = next - 1;
        long committed = 0;
        var report = Task.Run(async () =>
        {
            while (Interlocked.Read(ref committed) < options.Messages - next + 1 && !cancellationToken.IsCancellationRequested)
            {
                Console.WriteLine($"produced {next - 1 + Interlocked.Read(ref committed)}");
                await Task.Delay(500, cancellationToken);
            }
        }, cancellationToken);
        var workers = Enumerable.Range(0, Math.Max(1, options.Producers)).Select(_ => Task.Run(async () =>
        {
            for (var id = Interlocked.Increment(ref issued); id <= options.Messages; id = Interlocked.Increment(ref issued))
            {
                var order = new Order { Id = id, Customer = CustomerOf(id, options.Customers), Poison = IsPoison(id, options) };
                await RetryAsync(() => CommitAsync(contextOptions, order, options, cancellationToken), cancellationToken);
                Interlocked.Increment(ref committed);
                if (pace > TimeSpan.Zero)
                {
                    var due = started + (pace * (id - next + 1));
                    if (due > DateTime.UtcNow)
                    {
                        await Task.Delay(due - DateTime.UtcNow, cancellationToken);
                    }
                }
            }
        }, cancellationToken)).ToList();
        await Task.WhenAll(workers);
        await report;
        Console.WriteLine($"produced {options.Messages}");
        return 0;
    }

    public static string CustomerOf(long orderId, int customers) => "c" + (orderId * 2654435761L % customers);

    // Deterministic per seed (HashCode.Combine is randomized per process, so it would not reproduce a run).
    public static bool IsPoison(long orderId, ChaosOptions options) =>
        options.PoisonRate > 0 && new Random(unchecked((options.Seed * 1_000_003) + (int)orderId)).NextDouble() < options.PoisonRate;

    private static async Task<int> CommitAsync(DbContextOptions<OrdersDb> contextOptions, Order order, ChaosOptions options, CancellationToken cancellationToken)
    {
        await using var db = new OrdersDb(contextOptions);
        if (await db.Orders.AnyAsync(o => o.Id == order.Id, cancellationToken))
        {
            return 0; // an earlier attempt committed although its caller saw an error
        }

        db.Orders.Add(order);
        db.Publish(new OrderPlaced(order.Id, order.Customer, order.Poison), new PublishOptions
        {
            Destination = ChaosTopology.Exchange(options),
            PartitionKey = order.Customer,
        });
        return await db.SaveChangesAsync(cancellationToken);
    }

    private static async Task<T> RetryAsync<T>(Func<Task<T>> action, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await action();
            }
            catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or InvalidOperationException && attempt < 10_000)
            {
                NpgsqlConnection.ClearAllPools();
                await Task.Delay(Math.Min(50 * attempt, 1000), cancellationToken);
            }
        }
    }
}
