using Outbox.RabbitMQ;
using Samples.Contracts;

namespace Samples.ServiceDefaults;

/// <summary>
/// The RabbitMQ topology of the samples, declared (idempotently) by both services: one topic exchange per publishing
/// service, one queue per consumer bound to the other service's exchange.
/// </summary>
public static class SampleTopology
{
    /// <summary>The order service's queue: payment events.</summary>
    public const string OrdersQueue = "orders.payments";

    /// <summary>The payment service's queue: order events.</summary>
    public const string PaymentsQueue = "payments.orders";

    public static void Declare(RabbitMqOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AddExchange(Streams.Orders).AddExchange(Streams.Payments);
        options.AddQueue(PaymentsQueue, Streams.Orders).AddQueue(OrdersQueue, Streams.Payments);
    }
}
