using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox;
using Samples.Contracts;

namespace Samples.ModularMonolith;

/// <summary>The Orders module's data: its orders and its outbox tables, in orders.db.</summary>
public sealed class OrdersDb(DbContextOptions<OrdersDb> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>().ToTable("orders");
        modelBuilder.AddOutbox();
    }
}

/// <summary>The Billing module's data: its invoices and its own outbox tables, in billing.db.</summary>
public sealed class BillingDb(DbContextOptions<BillingDb> options) : DbContext(options)
{
    public DbSet<Invoice> Invoices => Set<Invoice>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Invoice>(e =>
        {
            e.ToTable("invoices");
            e.HasIndex(i => i.OrderId).IsUnique(); // one invoice per order, however often OrderPlaced arrives
        });
        modelBuilder.AddOutbox();
    }
}

public sealed class Order
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public required string Customer { get; set; }

    public long AmountCents { get; set; }
}

public sealed class Invoice
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public Guid OrderId { get; set; }

    public long AmountCents { get; set; }
}

/// <summary>A billing event, published by the Billing module's outbox.</summary>
public sealed record InvoiceIssued(Guid InvoiceId, Guid OrderId, long AmountCents);

/// <summary>
/// The in-process transport between the modules (a real deployment would use RabbitMQ or HTTP here): the Orders
/// outbox delivers <see cref="OrderPlaced"/> to the Billing module, which writes the invoice and publishes
/// <see cref="InvoiceIssued"/> in the same transaction, through its own outbox.
/// </summary>
public sealed class ModuleBus(IServiceScopeFactory scopes, IMessageSerializer serializer) : IMessageTransport
{
    private long _invoicesAnnounced;

    public long InvoicesAnnounced => Interlocked.Read(ref _invoicesAnnounced);

    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        switch (message.Destination)
        {
            case Streams.Orders:
                var placed = (OrderPlaced)serializer.Deserialize(message.Payload, typeof(OrderPlaced));
                await using (var scope = scopes.CreateAsyncScope())
                {
                    var billing = scope.ServiceProvider.GetRequiredService<BillingDb>();
                    if (await billing.Invoices.AnyAsync(i => i.OrderId == placed.OrderId, cancellationToken))
                    {
                        return; // delivered again (at-least-once): already invoiced
                    }

                    var invoice = new Invoice { OrderId = placed.OrderId, AmountCents = placed.AmountCents };
                    billing.Invoices.Add(invoice);
                    billing.Publish(new InvoiceIssued(invoice.Id, placed.OrderId, placed.AmountCents), new PublishOptions { Destination = "billing" });
                    await billing.SaveChangesAsync(cancellationToken);
                }

                break;
            case "billing":
                Interlocked.Increment(ref _invoicesAnnounced);
                break;
            default:
                throw new PermanentDeliveryException($"The module bus has no module for destination '{message.Destination}'.");
        }
    }
}
