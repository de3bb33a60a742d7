namespace Samples.Contracts;

/// <summary>An order was placed and waits for its payment. Published by Orders, consumed by Payments.</summary>
public sealed record OrderPlaced(Guid OrderId, string Customer, long AmountCents);

/// <summary>The order was charged. Published by Payments, consumed by Orders.</summary>
public sealed record PaymentCompleted(Guid OrderId, Guid PaymentId, long AmountCents);

/// <summary>The order could not be charged. Published by Payments, consumed by Orders.</summary>
public sealed record PaymentFailed(Guid OrderId, Guid PaymentId, string Reason);

/// <summary>
/// Where each service publishes (the messages' <c>PublishOptions.Destination</c>): a RabbitMQ exchange, or a key of
/// <c>Outbox:Http:Destinations</c> that maps to the other service's inbox URL.
/// </summary>
public static class Streams
{
    /// <summary>Events of the order service.</summary>
    public const string Orders = "orders";

    /// <summary>Events of the payment service.</summary>
    public const string Payments = "payments";
}
