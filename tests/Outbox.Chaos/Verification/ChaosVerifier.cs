using Npgsql;

namespace Outbox.Chaos.Verification;

/// <summary>Counts read from the databases at the end of a run (never from the harness's memory).</summary>
public sealed record ChaosCounts(
    long Orders,
    long PoisonOrders,
    long Paid,
    long Lost,
    long Duplicates,
    long OrderViolations,
    long PaymentsWithoutOrder,
    long InboxDeadLetters,
    long PoisonDeadLettered,
    long OutboxDeadLetters,
    long OutboxPending,
    long Accounted);

/// <summary>
/// Checks the run from the database: every committed non-poison order has exactly one payment, no payment lacks an
/// order, per-customer payments were committed in sequence order, and the dead letters are exactly the poison orders.
/// </summary>
public static class ChaosVerifier
{
    public static async Task<ChaosCounts> VerifyAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        async Task<long> Scalar(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 300 };
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        }

        const string PaymentsPerOrder = "SELECT order_id, count(*) AS n FROM payments.payments GROUP BY order_id";
        const string InboxDeadOrderIds = """
            SELECT DISTINCT (convert_from(payload, 'UTF8')::json->>'orderId')::bigint AS order_id
            FROM payments.inbox_dead_letters WHERE consumer = 'payments'
            """;
        const string OutboxDeadOrderIds = "SELECT (convert_from(payload, 'UTF8')::json->>'orderId')::bigint AS order_id FROM orders.outbox_dead_letters";
        const string OutboxPendingOrderIds = "SELECT (convert_from(payload, 'UTF8')::json->>'orderId')::bigint AS order_id FROM orders.outbox_messages";

        return new ChaosCounts(
            Orders: await Scalar("SELECT count(*) FROM orders.orders"),
            PoisonOrders: await Scalar("SELECT count(*) FROM orders.orders WHERE poison"),
            Paid: await Scalar($"SELECT count(*) FROM ({PaymentsPerOrder}) p JOIN orders.orders o ON o.id = p.order_id WHERE NOT o.poison"),
            Lost: await Scalar($"SELECT count(*) FROM orders.orders o WHERE NOT o.poison AND NOT EXISTS (SELECT 1 FROM payments.payments p WHERE p.order_id = o.id)"),
            Duplicates: await Scalar($"SELECT count(*) FROM ({PaymentsPerOrder}) p WHERE p.n > 1"),
            OrderViolations: await Scalar("""
                SELECT count(*) FROM (
                    SELECT sequence, max(sequence) OVER (PARTITION BY customer ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
                    FROM payments.payments) s
                WHERE s.before IS NOT NULL AND s.sequence < s.before
                """),
            PaymentsWithoutOrder: await Scalar("SELECT count(*) FROM payments.payments p WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = p.order_id)"),
            InboxDeadLetters: await Scalar("SELECT count(*) FROM payments.inbox_dead_letters WHERE consumer = 'payments'"),
            PoisonDeadLettered: await Scalar($"SELECT count(*) FROM ({InboxDeadOrderIds}) d JOIN orders.orders o ON o.id = d.order_id WHERE o.poison"),
            OutboxDeadLetters: await Scalar("SELECT count(*) FROM orders.outbox_dead_letters"),
            OutboxPending: await Scalar("SELECT count(*) FROM orders.outbox_messages"),
            Accounted: await Scalar($"""
                SELECT count(*) FROM orders.orders o WHERE
                    EXISTS (SELECT 1 FROM payments.payments p WHERE p.order_id = o.id)
                    OR o.id IN ({InboxDeadOrderIds}) OR o.id IN ({OutboxDeadOrderIds}) OR o.id IN ({OutboxPendingOrderIds})
                """));
    }

    /// <summary>True once every committed order's message has an outcome at the consumer (payment or dead letter).</summary>
    public static async Task<(long Orders, long Settled)> ProgressAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM orders.orders),
                   (SELECT count(DISTINCT order_id) FROM payments.payments)
                 + (SELECT count(*) FROM payments.inbox_dead_letters WHERE consumer = 'payments')
                 + (SELECT count(*) FROM orders.outbox_dead_letters)
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
