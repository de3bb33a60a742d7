using Samples.Orders.Data;

namespace Samples.Orders;

public sealed record PlaceOrder(string Customer, long AmountCents);

public sealed record OrderView(Guid Id, string Customer, long AmountCents, string Status, string? FailureReason, DateTime PlacedAt, DateTime? SettledAt)
{
    public static OrderView From(Order order) =>
        new(order.Id, order.Customer, order.AmountCents, order.Status.ToString(), order.FailureReason, order.PlacedAt, order.SettledAt);
}

public sealed record OrderStats(int Placed, int Pending, int Paid, int PaymentFailed, int SettledMoreThanOnce, long InboxDuplicatesSkipped);
