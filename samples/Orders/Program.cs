using Microsoft.EntityFrameworkCore;
using Outbox;
using Samples.Contracts;
using Samples.Orders;
using Samples.Orders.Data;
using Samples.Orders.Handlers;
using Samples.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
var sample = builder.AddSampleDefaults();
var connectionString = builder.Configuration.GetConnectionString("Orders")
    ?? throw new InvalidOperationException("Set ConnectionStrings:Orders.");

// 1. One DbContext holds the orders, the outbox and the inbox. UseOutbox(sp) numbers keyed messages in the
//    publishing transaction and wakes this process's dispatcher after each commit.
if (sample.Database == SampleDatabase.PostgreSql)
{
    builder.Services.AddDbContext<OrdersDb, PostgreSqlOrdersDb>((sp, o) => o.UseNpgsql(connectionString).UseOutbox(sp));
}
else
{
    builder.Services.AddDbContext<OrdersDb, SqliteOrdersDb>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
}

// 2. The outbox dispatcher: the store is the same database, the transport posts or publishes OrderPlaced.
var outbox = builder.Services.AddOutbox();
_ = sample.Database == SampleDatabase.PostgreSql ? outbox.UsePostgreSql<OrdersDb>() : outbox.UseSqlite<OrdersDb>();

// 3. The consumer "orders": payment results, each processed once through the inbox.
var consumer = builder.Services.AddOutboxConsumer<OrdersDb>("orders")
    .AddHandler<PaymentCompleted, PaymentCompletedHandler>()
    .AddHandler<PaymentFailed, PaymentFailedHandler>();

if (sample.Transport == SampleTransport.RabbitMq)
{
    // Publishes to exchange "orders"; consumes queue "orders.payments" (bound to exchange "payments").
    outbox.UseRabbitMq(SampleTopology.Declare);
    consumer.UseRabbitMq(SampleTopology.OrdersQueue);
}
else
{
    // Posts to Outbox:Http:Destinations:orders (the payment service's inbox); receives on POST /inbox/orders.
    // Each request is signed with Outbox:Http:SigningKeys:orders; the inbox accepts only requests signed with a key in
    // Outbox:Http:Inbox:orders:SigningKeys (anything else: 401, nothing written). Demo keys in appsettings.json.
    outbox.UseHttp();
    consumer.UseHttp();
}

var app = builder.Build();
app.UseDroppedInboxResponses();
app.MapSampleDefaults();
if (sample.Transport == SampleTransport.Http)
{
    app.MapOutboxHttpInbox("/inbox/{consumer}");
}

// Place an order: the order row and its OrderPlaced message commit in one transaction, or neither does.
app.MapPost("/orders", async (PlaceOrder command, OrdersDb db, TimeProvider time, CancellationToken cancellationToken) =>
{
    if (string.IsNullOrWhiteSpace(command.Customer) || command.AmountCents <= 0)
    {
        return Results.ValidationProblem(new Dictionary<string, string[]>
        {
            ["order"] = ["A customer and a positive amount (in cents) are required."],
        });
    }

    var order = new Order
    {
        Id = Guid.CreateVersion7(),
        Customer = command.Customer,
        AmountCents = command.AmountCents,
        Status = OrderStatus.Pending,
        PlacedAt = time.GetUtcNow().UtcDateTime,
    };
    db.Orders.Add(order);
    db.Publish(
        new OrderPlaced(order.Id, order.Customer, order.AmountCents),
        new PublishOptions { Destination = Streams.Orders, PartitionKey = order.Id.ToString() });
    await db.SaveChangesAsync(cancellationToken);
    return Results.Created($"/orders/{order.Id}", OrderView.From(order));
});

app.MapGet("/orders/{id:guid}", async (Guid id, OrdersDb db, CancellationToken cancellationToken) =>
    await db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, cancellationToken) is { } order
        ? Results.Ok(OrderView.From(order))
        : Results.NotFound());

// What the demo reports: orders by status, and how often the inbox skipped a redelivered message.
app.MapGet("/orders/stats", async (OrdersDb db, InboxDuplicateCounter duplicates, CancellationToken cancellationToken) =>
{
    var byStatus = await db.Orders.AsNoTracking().GroupBy(o => o.Status)
        .Select(g => new { Status = g.Key, Count = g.Count() })
        .ToListAsync(cancellationToken);
    int Count(OrderStatus status) => byStatus.FirstOrDefault(s => s.Status == status)?.Count ?? 0;
    return new OrderStats(
        Placed: byStatus.Sum(s => s.Count),
        Pending: Count(OrderStatus.Pending),
        Paid: Count(OrderStatus.Paid),
        PaymentFailed: Count(OrderStatus.PaymentFailed),
        SettledMoreThanOnce: await db.Orders.CountAsync(o => o.PaymentResults > 1, cancellationToken),
        InboxDuplicatesSkipped: duplicates.Duplicates);
});

if (sample.MigrateOnStartup)
{
    await using var scope = app.Services.CreateAsyncScope();
    await scope.ServiceProvider.GetRequiredService<OrdersDb>().Database.MigrateAsync();
}

await app.RunAsync();
