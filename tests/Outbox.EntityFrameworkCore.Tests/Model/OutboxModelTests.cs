using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Outbox.EntityFrameworkCore.Tests.Model;

public sealed class OutboxModelTests
{
    private sealed class ConfigurableContext(Action<OutboxModelOptions> configure) : DbContext
    {
        protected override void OnConfiguring(DbContextOptionsBuilder optionsBuilder) =>
            optionsBuilder.UseSqlite("Data Source=:memory:").ReplaceService<Microsoft.EntityFrameworkCore.Infrastructure.IModelCacheKeyFactory, NoCache>();

        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddOutbox(configure);
    }

    /// <summary>Builds a fresh model for every context instance, so each test sees its own options.</summary>
    private sealed class NoCache : Microsoft.EntityFrameworkCore.Infrastructure.IModelCacheKeyFactory
    {
        public object Create(DbContext context, bool designTime) => new object();
    }

    [Theory]
    [InlineData("outbox; DROP TABLE orders")]
    [InlineData("1starts_with_digit")]
    [InlineData("has space")]
    [InlineData("\"quoted\"")]
    [InlineData("")]
    public void AddOutbox_InvalidTableName_ThrowsNamingTheOption(string table)
    {
        using var context = new ConfigurableContext(o => o.OutboxTable = table);
        var error = Assert.Throws<ArgumentException>(() => context.Model);
        Assert.Contains("OutboxModelOptions.OutboxTable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddOutbox_InvalidSchema_ThrowsNamingTheOption()
    {
        using var context = new ConfigurableContext(o => o.Schema = "a.b");
        var error = Assert.Throws<ArgumentException>(() => context.Model);
        Assert.Contains("OutboxModelOptions.Schema", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddOutbox_SameNameForBothTables_Throws()
    {
        using var context = new ConfigurableContext(o => o.DeadLetterTable = o.OutboxTable);
        var error = Assert.Throws<ArgumentException>(() => context.Model);
        Assert.Contains("must differ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddOutbox_CustomNames_AreMappedAndQuotedByTheStoreHelper()
    {
        using var context = new ConfigurableContext(o =>
        {
            o.Schema = "messaging";
            o.OutboxTable = "my_outbox";
            o.DeadLetterTable = "my_dead";
        });
        var outbox = context.Model.FindEntityType(typeof(OutboxRecord))!;
        Assert.Equal("my_outbox", outbox.GetTableName());
        Assert.Equal("messaging", outbox.GetSchema());
        Assert.Equal("lease_owner", outbox.FindProperty(nameof(OutboxRecord.LeaseOwner))!.GetColumnName());
        Assert.Equal("my_dead", context.Model.FindEntityType(typeof(DeadLetterRecord))!.GetTableName());

        // SQLite has no schemas: its SQL generation helper drops the schema and quotes the name.
        var tables = OutboxTables.From(context);
        Assert.Equal("\"my_outbox\"", tables.Outbox);
        Assert.Equal("\"my_dead\"", tables.DeadLetters);
    }

    [Fact]
    public void AddOutbox_NoLeaseColumnIsIndexed_SoClaimsCanBeHotUpdates()
    {
        using var context = new ConfigurableContext(_ => { });
        var outbox = context.Model.FindEntityType(typeof(OutboxRecord))!;
        var indexed = outbox.GetIndexes().SelectMany(i => i.Properties).Concat(outbox.FindPrimaryKey()!.Properties).Select(p => p.Name);
        Assert.DoesNotContain(nameof(OutboxRecord.LeaseOwner), indexed);
        Assert.DoesNotContain(nameof(OutboxRecord.LeaseExpiresAt), indexed);
        Assert.DoesNotContain(nameof(OutboxRecord.Attempts), indexed);
    }

    [Fact]
    public void Publish_WithoutOutboxInTheModel_ThrowsSayingWhatToCall()
    {
        using var context = new DbContext(new DbContextOptionsBuilder().UseSqlite("Data Source=:memory:").Options);
        var error = Assert.Throws<InvalidOperationException>(() => context.Publish(new { A = 1 }));
        Assert.Contains("modelBuilder.AddOutbox()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Publish_ReservedHeaderName_IsRefused()
    {
        using var context = new ConfigurableContext(_ => { });
        var options = new PublishOptions { Headers = { ["outbox-message-id"] = "x" } };
        var error = Assert.Throws<ArgumentException>(() => context.Publish(new { A = 1 }, options));
        Assert.Contains("reserved", error.Message, StringComparison.Ordinal);
    }
}
