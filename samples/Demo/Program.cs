using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Samples.Demo;

// The README's first command. Starts Payments and Orders as two processes on free loopback ports (SQLite files and the
// HTTP transport by default), places a stream of orders, shows progress, and ends with a report. Exit code 0 means every
// order was paid or failed exactly once: one payment per order, one payment result applied per order.
DemoOptions options;
try
{
    options = DemoOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(DemoOptions.Usage);
    return 2;
}

if (options.Help)
{
    Console.WriteLine(DemoOptions.Usage);
    return 0;
}

var work = Directory.CreateTempSubdirectory("outbox-demo-").FullName;
var ordersPort = ServiceProcess.FreePort();
var paymentsPort = ServiceProcess.FreePort();
var common = new Dictionary<string, string>
{
    ["Sample__Database"] = options.Database,
    ["Sample__Transport"] = options.Transport,
    ["Sample__DropInboxResponses"] = options.DropResponses.ToString(CultureInfo.InvariantCulture),
    ["Logging__LogLevel__Default"] = "Warning",
    ["Logging__LogLevel__Samples"] = "Information",
    ["Outbox__Dispatcher__PollingInterval"] = "00:00:00.200",
    ["Outbox__RabbitMQ__Uri"] = options.RabbitMq,
};
var ordersEnvironment = new Dictionary<string, string>(common)
{
    ["ConnectionStrings__Orders"] = options.OrdersDb ?? $"Data Source={Path.Combine(work, "orders.db")}",
    ["Outbox__Http__Destinations__orders"] = $"http://127.0.0.1:{paymentsPort}/inbox/payments",
};
var paymentsEnvironment = new Dictionary<string, string>(common)
{
    ["ConnectionStrings__Payments"] = options.PaymentsDb ?? $"Data Source={Path.Combine(work, "payments.db")}",
    ["Outbox__Http__Destinations__payments"] = $"http://127.0.0.1:{ordersPort}/inbox/orders",
};

Console.WriteLine($"Outbox demo: {options.Orders} orders, {options.Database} + {options.Transport}" + (options.Transport == "Http"
    ? $", {options.DropResponses:P0} of inbox responses dropped after processing to provoke redeliveries."
    : "."));
Console.WriteLine($"Work folder: {work}");

using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
var clock = Stopwatch.StartNew();
var services = new List<ServiceProcess>();
var exitCode = 1;
try
{
    services.Add(ServiceProcess.Start("Payments", ServiceProcess.AssemblyPath("PaymentsAssembly"), paymentsPort, work, paymentsEnvironment));
    services.Add(ServiceProcess.Start("Orders", ServiceProcess.AssemblyPath("OrdersAssembly"), ordersPort, work, ordersEnvironment));
    foreach (var service in services)
    {
        await service.WaitReadyAsync(http, TimeSpan.FromSeconds(90));
        Console.WriteLine($"{service.Name,-8} ready at {service.Address} ({clock.Elapsed.TotalSeconds:0.0} s)");
    }

    var orders = services[1].Address;
    var payments = services[0].Address;
    var ordersBefore = await GetAsync<OrderStats>(new Uri(orders, "/orders/stats"));
    var paymentsBefore = await GetAsync<PaymentStats>(new Uri(payments, "/payments/stats"));

    // Place the orders, a few at a time; amounts from 5 to 1,200 EUR, so those above the 1,000 EUR card limit fail.
    var random = new Random(options.Seed);
    var amounts = Enumerable.Range(0, options.Orders).Select(_ => random.NextInt64(500, 120_001)).ToArray();
    var placed = 0;
    var rejected = 0;
    var placing = Parallel.ForEachAsync(
        Enumerable.Range(0, options.Orders),
        new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency },
        async (i, cancellationToken) =>
        {
            using var response = await http.PostAsJsonAsync(new Uri(orders, "/orders"), new { customer = $"customer-{i % 17}", amountCents = amounts[i] }, cancellationToken);
            Interlocked.Increment(ref response.IsSuccessStatusCode ? ref placed : ref rejected);
        });

    // Progress until every placed order has settled (paid or failed) or the time is up.
    OrderStats now;
    var deadline = clock.Elapsed + options.Timeout;
    var lastLine = TimeSpan.Zero;
    while (true)
    {
        await Task.Delay(250);
        now = (await GetAsync<OrderStats>(new Uri(orders, "/orders/stats"))) - ordersBefore;
        var done = placing.IsCompleted && now.Pending == 0 && now.Placed == Volatile.Read(ref placed);
        if (done || clock.Elapsed - lastLine >= TimeSpan.FromSeconds(1))
        {
            lastLine = clock.Elapsed;
            var duplicates = now.InboxDuplicatesSkipped + (await GetAsync<PaymentStats>(new Uri(payments, "/payments/stats"))).InboxDuplicatesSkipped;
            Console.WriteLine($"[{clock.Elapsed.TotalSeconds,5:0.0} s] placed {Volatile.Read(ref placed),5}/{options.Orders} | paid {now.Paid,5} | failed {now.PaymentFailed,4} | pending {now.Pending,5} | duplicates skipped {duplicates,3}");
        }

        if (done)
        {
            break;
        }

        if (clock.Elapsed > deadline || services.Any(s => s.HasExited))
        {
            Console.WriteLine(services.Any(s => s.HasExited) ? "A service exited." : $"Timed out after {options.Timeout.TotalSeconds:0} s.");
            break;
        }
    }

    await placing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    // A stranger's forged OrderPlaced, unsigned, straight to the payment service's inbox: it must be refused (401) and
    // change nothing (the payment count below must still equal the orders placed).
    var forged = options.Transport == "Http" ? await ForgedPostAsync(new Uri(payments, "/inbox/payments")) : (int?)null;
    now = (await GetAsync<OrderStats>(new Uri(orders, "/orders/stats"))) - ordersBefore;
    var paid = await GetAsync<PaymentStats>(new Uri(payments, "/payments/stats")) - paymentsBefore;

    var checks = new List<(string Check, bool Ok)>
    {
        ($"every order was accepted ({placed} of {options.Orders}, {rejected} rejected)", placed == options.Orders && rejected == 0),
        ($"no order is pending ({now.Pending})", now.Pending == 0),
        ($"paid + failed = placed ({now.Paid} + {now.PaymentFailed} = {now.Placed})", now.Paid + now.PaymentFailed == now.Placed && now.Placed == placed),
        ($"one payment per order ({paid.Payments} payments, {paid.OrdersChargedMoreThanOnce} orders charged more than once)", paid.Payments == now.Placed && paid.OrdersChargedMoreThanOnce == 0),
        ($"one payment result applied per order ({now.SettledMoreThanOnce} orders settled more than once)", now.SettledMoreThanOnce == 0),
        (forged is null
            ? "a forged POST to the payments inbox (HTTP only: skipped with RabbitMQ)"
            : $"a forged, unsigned POST to the payments inbox was refused ({forged}) and wrote nothing", forged is null or 401),
        ($"both services agree (completed {paid.Completed} = paid {now.Paid}, failed {paid.Failed} = failed {now.PaymentFailed})", paid.Completed == now.Paid && paid.Failed == now.PaymentFailed),
    };
    var ok = checks.All(c => c.Ok);

    Console.WriteLine();
    Console.WriteLine("Report");
    Console.WriteLine($"  orders placed                   {now.Placed,6}");
    Console.WriteLine($"  paid                            {now.Paid,6}");
    Console.WriteLine($"  failed (over the card limit)    {now.PaymentFailed,6}");
    Console.WriteLine($"  pending                         {now.Pending,6}");
    Console.WriteLine($"  payments written                {paid.Payments,6}");
    Console.WriteLine($"  duplicates skipped by the inbox {now.InboxDuplicatesSkipped + paid.InboxDuplicatesSkipped,6}  (orders {now.InboxDuplicatesSkipped}, payments {paid.InboxDuplicatesSkipped})");
    Console.WriteLine($"  elapsed                         {clock.Elapsed.TotalSeconds,6:0.0} s");
    Console.WriteLine($"  health (GET /health)            orders {await HealthAsync(orders)}, payments {await HealthAsync(payments)}");
    Console.WriteLine($"  dashboards                      {new Uri(orders, "/outbox")} and {new Uri(payments, "/outbox")} (while running)");
    foreach (var (check, passed) in checks)
    {
        Console.WriteLine($"  [{(passed ? "ok" : "FAILED")}] {check}");
    }

    Console.WriteLine(ok
        ? $"RESULT: OK - every order was paid or failed exactly once ({now.Paid} paid, {now.PaymentFailed} failed)."
        : "RESULT: FAILED - see the checks above and the service logs.");
    exitCode = ok ? 0 : 1;
}
catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TimeoutException or FileNotFoundException or TaskCanceledException)
{
    Console.WriteLine($"RESULT: FAILED - {ex.Message}");
}
finally
{
    foreach (var service in services)
    {
        await service.DisposeAsync();
    }

    if (exitCode != 0)
    {
        foreach (var service in services)
        {
            Console.WriteLine($"--- last lines of {service.LogPath}");
            foreach (var line in service.LogTail(30))
            {
                Console.WriteLine(line);
            }
        }
    }

    if (!options.Keep && exitCode == 0)
    {
        try
        {
            Directory.Delete(work, recursive: true);
        }
        catch (IOException)
        {
            // a file still held open; the temp folder is cleaned eventually
        }
    }
    else
    {
        Console.WriteLine($"Databases and service logs kept in {work}");
    }
}

return exitCode;

async Task<int> ForgedPostAsync(Uri inbox)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, inbox)
    {
        Content = JsonContent.Create(new { orderId = Guid.NewGuid(), customer = "mallory", amountCents = 100 }),
    };
    request.Headers.Add("outbox-message-id", Guid.NewGuid().ToString());
    request.Headers.Add("outbox-message-type", "Samples.Contracts.OrderPlaced");
    using var response = await http.SendAsync(request);
    return (int)response.StatusCode;
}

async Task<string> HealthAsync(Uri service)
{
    // JSON (OutboxHealthResponseWriter): the overall status, then each check that is not Healthy.
    using var response = await http.GetAsync(new Uri(service, "/health"));
    using var health = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    var notHealthy = health.RootElement.GetProperty("checks").EnumerateArray()
        .Where(c => c.GetProperty("status").GetString() != "Healthy")
        .Select(c => $"{c.GetProperty("name").GetString()}: {c.GetProperty("status").GetString()}");
    return string.Join(", ", [health.RootElement.GetProperty("status").GetString(), .. notHealthy]);
}

async Task<T> GetAsync<T>(Uri url) =>
    await http.GetFromJsonAsync<T>(url) ?? throw new InvalidOperationException($"GET {url} answered nothing.");

internal sealed record OrderStats(int Placed, int Pending, int Paid, int PaymentFailed, int SettledMoreThanOnce, long InboxDuplicatesSkipped)
{
    public static OrderStats operator -(OrderStats a, OrderStats b) => new(
        a.Placed - b.Placed, a.Pending - b.Pending, a.Paid - b.Paid, a.PaymentFailed - b.PaymentFailed,
        a.SettledMoreThanOnce - b.SettledMoreThanOnce, a.InboxDuplicatesSkipped - b.InboxDuplicatesSkipped);
}

internal sealed record PaymentStats(int Payments, int Completed, int Failed, int OrdersChargedMoreThanOnce, long InboxDuplicatesSkipped)
{
    public static PaymentStats operator -(PaymentStats a, PaymentStats b) => new(
        a.Payments - b.Payments, a.Completed - b.Completed, a.Failed - b.Failed,
        a.OrdersChargedMoreThanOnce - b.OrdersChargedMoreThanOnce, a.InboxDuplicatesSkipped - b.InboxDuplicatesSkipped);
}
