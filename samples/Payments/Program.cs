using Microsoft.EntityFrameworkCore;
using Samples.Contracts;
using Samples.Payments;
using Samples.Payments.Data;
using Samples.Payments.Handlers;
using Samples.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
var sample = builder.AddSampleDefaults();
var connectionString = builder.Configuration.GetConnectionString("Payments")
    ?? throw new InvalidOperationException("Set ConnectionStrings:Payments.");

// 1. One DbContext holds the payments, the inbox and the outbox.
if (sample.Database == SampleDatabase.PostgreSql)
{
    builder.Services.AddDbContext<PaymentsDb, PostgreSqlPaymentsDb>((sp, o) => o.UseNpgsql(connectionString).UseOutbox(sp));
}
else
{
    builder.Services.AddDbContext<PaymentsDb, SqlitePaymentsDb>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
}

// 2. The outbox dispatcher sends PaymentCompleted / PaymentFailed.
var outbox = builder.Services.AddOutbox();
_ = sample.Database == SampleDatabase.PostgreSql ? outbox.UsePostgreSql<PaymentsDb>() : outbox.UseSqlite<PaymentsDb>();

// 3. The consumer "payments": OrderPlaced, each processed once through the inbox.
var consumer = builder.Services.AddOutboxConsumer<PaymentsDb>("payments")
    .AddHandler<OrderPlaced, OrderPlacedHandler>();

if (sample.Transport == SampleTransport.RabbitMq)
{
    // Publishes to exchange "payments"; consumes queue "payments.orders" (bound to exchange "orders").
    outbox.UseRabbitMq(SampleTopology.Declare);
    consumer.UseRabbitMq(SampleTopology.PaymentsQueue);
}
else
{
    // Posts to Outbox:Http:Destinations:payments (the order service's inbox); receives on POST /inbox/payments.
    // Each request is signed with Outbox:Http:SigningKeys:payments; the inbox accepts only requests signed with a key in
    // Outbox:Http:Inbox:payments:SigningKeys (anything else: 401, nothing written). Demo keys in appsettings.json.
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

app.MapGet("/payments/{orderId:guid}", async (Guid orderId, PaymentsDb db, CancellationToken cancellationToken) =>
    await db.Payments.AsNoTracking().Where(p => p.OrderId == orderId).ToListAsync(cancellationToken));

// What the demo reports: payments written, orders charged more than once (must be 0), duplicates the inbox skipped.
app.MapGet("/payments/stats", async (PaymentsDb db, InboxDuplicateCounter duplicates, CancellationToken cancellationToken) =>
    new PaymentStats(
        Payments: await db.Payments.CountAsync(cancellationToken),
        Completed: await db.Payments.CountAsync(p => p.Succeeded, cancellationToken),
        Failed: await db.Payments.CountAsync(p => !p.Succeeded, cancellationToken),
        OrdersChargedMoreThanOnce: await db.Payments.GroupBy(p => p.OrderId).CountAsync(g => g.Count() > 1, cancellationToken),
        InboxDuplicatesSkipped: duplicates.Duplicates));

if (sample.MigrateOnStartup)
{
    await using var scope = app.Services.CreateAsyncScope();
    await scope.ServiceProvider.GetRequiredService<PaymentsDb>().Database.MigrateAsync();
}

await app.RunAsync();
