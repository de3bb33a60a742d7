using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Outbox.EntityFrameworkCore.PostgreSql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>The connection strings of <see cref="OutboxPostgreSqlOptions"/> are checked when the options are read. No server needed.</summary>
public sealed class PostgreSqlOptionsValidationTests
{
    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("Host=127.0.0.1;No Such Keyword=1")]
    public void ListenerConnectionString_Invalid_FailsValidationNamingTheOption(string value)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Read(o => o.ListenerConnectionString = value));

        Assert.Contains(nameof(OutboxPostgreSqlOptions.ListenerConnectionString), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ListenerConnectionString_Valid_PassesValidation()
    {
        var options = Read(o => o.ListenerConnectionString = "Host=db-primary;Port=5432;Username=app;Database=orders");

        Assert.Equal("Host=db-primary;Port=5432;Username=app;Database=orders", options.ListenerConnectionString);
    }

    [Fact]
    public void ConnectionString_Invalid_FailsValidationNamingTheOption()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Read(o => o.ConnectionString = "Host=127.0.0.1;No Such Keyword=1"));

        Assert.Contains(nameof(OutboxPostgreSqlOptions.ConnectionString), error.Message, StringComparison.Ordinal);
    }

    private static OutboxPostgreSqlOptions Read(Action<OutboxPostgreSqlOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddOutbox().UsePostgreSql<TestDbContext>(configure);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<OutboxPostgreSqlOptions>>().Value;
    }
}
