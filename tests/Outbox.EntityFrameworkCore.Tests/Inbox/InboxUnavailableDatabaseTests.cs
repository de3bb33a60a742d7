using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.EntityFrameworkCore.Tests.Inbox;

/// <summary>The consumer's database cannot be reached: nothing is dead-lettered, nothing is dropped.</summary>
public sealed class InboxUnavailableDatabaseTests
{
    private const string Consumer = "ledger";

    // Nothing listens on port 1: every connection attempt is refused at once.
    private const string Unreachable = "Host=127.0.0.1;Port=1;Timeout=2;Pooling=false";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Process_DatabaseUnreachable_ReportsUnavailableAndTheHandlerDoesNotRun()
    {
        await using var services = Build();
        var outcome = await services.GetRequiredKeyedService<IInboxProcessor>(Consumer).ProcessAsync(Consumer, Message(), Ct);

        Assert.Equal(InboxOutcomeKind.Unavailable, outcome.Kind);
        Assert.NotNull(outcome.Exception);
        Assert.Equal(0, services.GetRequiredService<HandlerBehaviour>().Invocations);
    }

    [Fact]
    public async Task Receive_DatabaseUnreachable_RequeuesTheMessageInsteadOfDeadLetteringOrDroppingIt()
    {
        await using var services = Build();
        var poison = Message() with { MessageType = "No.Such.Type" }; // even poison: its dead letter cannot be written

        Assert.Equal(ReceiveDisposition.Requeue, await services.GetRequiredService<IInboxReceiver>().ReceiveAsync(Consumer, Message(), Ct));
        Assert.Equal(ReceiveDisposition.Requeue, await services.GetRequiredService<IInboxReceiver>().ReceiveAsync(Consumer, poison, Ct));
    }

    private static ServiceProvider Build()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSingleton<HandlerBehaviour>();
        services.AddDbContext<InboxTestDbContext>(o => o.UseNpgsql(Unreachable));
        services.AddOutboxConsumer<InboxTestDbContext>(Consumer, c => c
            .AddHandler<AccountCredited, CreditHandler>()
            .Configure(o =>
            {
                o.MaxAttempts = 2;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(1);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(5);
                o.RequeueDelay = TimeSpan.Zero;
            }));
        return services.BuildServiceProvider();
    }

    private static IncomingMessage Message() => new()
    {
        MessageId = Guid.CreateVersion7().ToString(),
        MessageType = typeof(AccountCredited).FullName,
        ContentType = "application/json",
        Payload = SystemTextJsonMessageSerializer.Default.Serialize(new AccountCredited("acc", 1), typeof(AccountCredited)),
    };
}
