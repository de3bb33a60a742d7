using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore.Tests.Inbox;

/// <summary>The inbox model and the consumer registration, without a database.</summary>
public sealed class InboxModelTests
{
    private sealed class ConfigurableContext(Action<InboxModelOptions>? configure, bool withInbox = true) : DbContext
    {
        protected override void OnConfiguring(DbContextOptionsBuilder optionsBuilder) =>
            optionsBuilder.UseSqlite("Data Source=:memory:").ReplaceService<IModelCacheKeyFactory, NoCache>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            if (withInbox)
            {
                modelBuilder.AddInbox(configure);
            }
        }
    }

    /// <summary>Builds a fresh model for every context instance, so each test sees its own options.</summary>
    private sealed class NoCache : IModelCacheKeyFactory
    {
        public object Create(DbContext context, bool designTime) => new object();
    }

    [Theory]
    [InlineData("inbox; DROP TABLE payments")]
    [InlineData("has space")]
    [InlineData("")]
    public void AddInbox_InvalidTableName_ThrowsNamingTheOption(string table)
    {
        using var context = new ConfigurableContext(o => o.InboxTable = table);
        var error = Assert.Throws<ArgumentException>(() => context.Model);
        Assert.Contains("InboxModelOptions.InboxTable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddInbox_SameNameForBothTables_Throws()
    {
        using var context = new ConfigurableContext(o => o.DeadLetterTable = o.InboxTable);
        Assert.Contains("must differ", Assert.Throws<ArgumentException>(() => context.Model).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddInbox_CustomNames_AreMappedWithTheKeyOnConsumerAndMessageId()
    {
        using var context = new ConfigurableContext(o =>
        {
            o.Schema = "messaging";
            o.InboxTable = "my_inbox";
            o.DeadLetterTable = "my_inbox_dead";
        });
        var inbox = context.Model.FindEntityType(typeof(InboxRecord))!;
        Assert.Equal("my_inbox", inbox.GetTableName());
        Assert.Equal("messaging", inbox.GetSchema());
        Assert.Equal(["Consumer", "MessageId"], inbox.FindPrimaryKey()!.Properties.Select(p => p.Name));
        Assert.Contains(inbox.GetIndexes(), i => i.Properties.Single().Name == nameof(InboxRecord.ReceivedAt));
        Assert.Equal("my_inbox_dead", context.Model.FindEntityType(typeof(InboxDeadLetterRecord))!.GetTableName());

        var tables = InboxTables.From(context); // quoted by the provider's helper; SQLite has no schemas
        Assert.Equal("\"my_inbox\"", tables.Inbox);
        Assert.StartsWith("INSERT INTO \"my_inbox\" (consumer, message_id, received_at, processed_at) VALUES (", tables.InsertProcessed, StringComparison.Ordinal);
        Assert.EndsWith("ON CONFLICT DO NOTHING", tables.InsertProcessed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_ConsumerWhoseContextHasNoInbox_FailsSayingWhatToCall()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddDbContext<NoInboxContext>(o => o.UseSqlite("Data Source=:memory:"));
        builder.Services.AddOutboxConsumer<NoInboxContext>("payments", c => c.AddHandler<AccountCredited, NoopHandler>());
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("modelBuilder.AddInbox()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddOutboxConsumer_SameNameWithAnotherContext_Throws()
    {
        var services = new ServiceCollection();
        services.AddOutboxConsumer<NoInboxContext>("payments");
        var error = Assert.Throws<InvalidOperationException>(() => services.AddOutboxConsumer<InboxTestDbContext>("payments"));
        Assert.Contains("already registered with NoInboxContext", error.Message, StringComparison.Ordinal);
    }

    public sealed class NoInboxContext(DbContextOptions<NoInboxContext> options) : DbContext(options);

    public sealed class NoopHandler : IMessageHandler<AccountCredited>
    {
        public Task HandleAsync(AccountCredited message, MessageContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
