using Outbox;
using Samples.Contracts;
using Samples.Orders.Data;

namespace Samples.Orders.Handlers;

/// <summary>
/// Marks the order paid. Runs inside the inbox's transaction: the status change and the inbox row commit together, so
/// a redelivered PaymentCompleted is skipped before it gets here.
/// </summary>
public sealed class PaymentCompletedHandler(OrdersDb db, TimeProvider time) : IMessageHandler<PaymentCompleted>
{
    public async Task HandleAsync(PaymentCompleted message, MessageContext context, CancellationToken cancellationToken)
    {
        var order = await db.Orders.FindAsync([message.OrderId], cancellationToken)
            ?? throw new InvalidOperationException($"Order {message.OrderId} does not exist.");
        order.Status = OrderStatus.Paid;
        order.PaymentId = message.PaymentId;
        order.PaymentResults++;
        order.SettledAt = time.GetUtcNow().UtcDateTime;
    }
}

/// <summary>Marks the order's payment failed, with the reason.</summary>
public sealed class PaymentFailedHandler(OrdersDb db, TimeProvider time) : IMessageHandler<PaymentFailed>
{
    public async Task HandleAsync(PaymentFailed message, MessageContext context, CancellationToken cancellationToken)
    {
        var order = await db.Orders.FindAsync([message.OrderId], cancellationToken)
            ?? throw new InvalidOperationException($"Order {message.OrderId} does not exist.");
        order.Status = OrderStatus.PaymentFailed;
        order.PaymentId = message.PaymentId;
        order.FailureReason = message.Reason;
        order.PaymentResults++;
        order.SettledAt = time.GetUtcNow().UtcDateTime;
    }
}
