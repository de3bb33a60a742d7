using Microsoft.EntityFrameworkCore;
using Outbox;
using Samples.Contracts;
using Samples.Payments.Data;

namespace Samples.Payments.Handlers;

/// <summary>
/// Charges the order by a simple rule (amounts above the card limit fail) and publishes the result. The payment row,
/// the result message and the inbox row commit together: a redelivered OrderPlaced never charges twice, and a
/// charge is never recorded without its result being sent.
/// </summary>
public sealed class OrderPlacedHandler(PaymentsDb db, TimeProvider time) : IMessageHandler<OrderPlaced>
{
    /// <summary>The card limit: larger orders fail.</summary>
    public const long CardLimitCents = 100_000;

    public Task HandleAsync(OrderPlaced message, MessageContext context, CancellationToken cancellationToken)
    {
        var succeeded = message.AmountCents <= CardLimitCents;
        var payment = new Payment
        {
            Id = Guid.CreateVersion7(),
            OrderId = message.OrderId,
            Customer = message.Customer,
            AmountCents = message.AmountCents,
            Succeeded = succeeded,
            FailureReason = succeeded ? null : $"The amount exceeds the card limit of {CardLimitCents / 100} EUR.",
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        db.Payments.Add(payment);

        var options = new PublishOptions { Destination = Streams.Payments, PartitionKey = message.OrderId.ToString() };
        if (succeeded)
        {
            db.Publish(new PaymentCompleted(message.OrderId, payment.Id, message.AmountCents), options);
        }
        else
        {
            db.Publish(new PaymentFailed(message.OrderId, payment.Id, payment.FailureReason!), options);
        }

        // No SaveChanges here: the inbox saves and commits this context together with its own row.
        return Task.CompletedTask;
    }
}
