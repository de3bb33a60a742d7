using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Outbox.EntityFrameworkCore.Tests.Inbox;

namespace Outbox.EntityFrameworkCore.Tests.Inbox;

/// <summary>
/// A database failure during the handler's SaveChanges or commit (restart, dropped connection) must not count as a
/// failed attempt of the message: found by the reliability harness, where it dead-lettered healthy messages.
/// </summary>
public sealed class TransientDatabaseFailureTests
{
    private sealed class FakeDbException(string message, bool transient, string? state) : DbException(message)
    {
        public override bool IsTransient => transient;

        public override string? SqlState => state;
    }

    [Theory]
    [InlineData(true, null)]
    [InlineData(false, "57P01")] // terminating connection due to administrator command
    [InlineData(false, "08006")] // connection failure
    public void IsTransientDatabaseFailure_ConnectionLossInsideDbUpdateException_IsTransient(bool transient, string? state) =>
        Assert.True(EntityFrameworkInboxProcessor<InboxTestDbContext>.IsTransientDatabaseFailure(
            new DbUpdateException("saving failed", new FakeDbException("gone", transient, state))));

    [Fact]
    public void IsTransientDatabaseFailure_SocketErrorDeepInside_IsTransient() =>
        Assert.True(EntityFrameworkInboxProcessor<InboxTestDbContext>.IsTransientDatabaseFailure(
            new InvalidOperationException("outer", new IOException("stream closed", new System.Net.Sockets.SocketException()))));

    [Theory]
    [InlineData("23505")] // unique violation: the handler's data, not the connection
    [InlineData(null)]
    public void IsTransientDatabaseFailure_ConstraintOrHandlerError_IsNot(string? state)
    {
        Assert.False(EntityFrameworkInboxProcessor<InboxTestDbContext>.IsTransientDatabaseFailure(
            new DbUpdateException("saving failed", new FakeDbException("duplicate key", transient: false, state))));
        Assert.False(EntityFrameworkInboxProcessor<InboxTestDbContext>.IsTransientDatabaseFailure(new InvalidOperationException("handler bug")));
    }
}
