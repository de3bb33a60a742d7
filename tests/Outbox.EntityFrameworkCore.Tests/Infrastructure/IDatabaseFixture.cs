namespace Outbox.EntityFrameworkCore.Tests.Infrastructure;

/// <summary>Gives each test its own database on one provider.</summary>
public interface IDatabaseFixture
{
    Task<TestDatabase> CreateDatabaseAsync();
}
