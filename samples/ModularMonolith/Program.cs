using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.Testing;
using Samples.Contracts;
using Samples.ModularMonolith;

// Two modules, two DbContexts, two SQLite databases, two outboxes, one process:
//   dotnet run --project samples/ModularMonolith -- [orders, default 100]
var count = args.Length > 0 && int.TryParse(args[0], out var n) ? n : 100;
var folder = Path.Combine(Path.GetTempPath(), $"outbox-monolith-{Guid.NewGuid():N}");
Directory.CreateDirectory(folder);

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddDbContext<OrdersDb>((sp, o) => o.UseSqlite($"Data Source={Path.Combine(folder, "orders.db")}").UseOutbox(sp));
builder.Services.AddDbContext<BillingDb>((sp, o) => o.UseSqlite($"Data Source={Path.Combine(folder, "billing.db")}").UseOutbox(sp));
builder.Services.AddSingleton<ModuleBus>();

// One outbox per module: its own store, dispatcher loops, wake-up, options (Outbox:Outboxes:<name>:Dispatcher) and
// transport. Each context publishes into its own outbox; nothing is shared but the bus.
builder.Services.AddOutbox("orders").UseSqlite<OrdersDb>().UseTransport<ModuleBus>();
builder.Services.AddOutbox("billing").UseSqlite<BillingDb>().UseTransport<ModuleBus>();

using var host = builder.Build();
foreach (var create in new Func<IServiceProvider, DbContext>[] { sp => sp.GetRequiredService<OrdersDb>(), sp => sp.GetRequiredService<BillingDb>() })
{
    await using var scope = host.Services.CreateAsyncScope();
    await create(scope.ServiceProvider).Database.EnsureCreatedAsync();
}

await host.StartAsync();
for (var i = 0; i < count; i++)
{
    await using var scope = host.Services.CreateAsyncScope();
    var orders = scope.ServiceProvider.GetRequiredService<OrdersDb>();
    var order = new Order { Customer = $"customer-{i % 7}", AmountCents = 1_000 + i };
    orders.Orders.Add(order);
    orders.Publish(new OrderPlaced(order.Id, order.Customer, order.AmountCents), new Outbox.PublishOptions { Destination = Streams.Orders });
    await orders.SaveChangesAsync(); // the order and its OrderPlaced, in one transaction of orders.db
}

// Waits for both outboxes: the orders' OrderPlaced, then the invoices' InvoiceIssued written while handling them.
await host.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromMinutes(2));
await host.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromMinutes(2));
int invoices;
await using (var scope = host.Services.CreateAsyncScope())
{
    invoices = await scope.ServiceProvider.GetRequiredService<BillingDb>().Invoices.CountAsync();
}

var announced = host.Services.GetRequiredService<ModuleBus>().InvoicesAnnounced;
await host.StopAsync();
Console.WriteLine($"orders placed: {count}, invoices written: {invoices}, InvoiceIssued delivered: {announced}");
Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
Directory.Delete(folder, recursive: true);
return invoices == count && announced >= count ? 0 : 1;
