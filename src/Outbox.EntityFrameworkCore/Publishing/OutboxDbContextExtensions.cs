using System.Diagnostics;
using System.Text.Json;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Outbox;
using Outbox.EntityFrameworkCore;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Publishing messages through the outbox inside a DbContext's unit of work.</summary>
public static class OutboxDbContextExtensions
{
    private static readonly int DefaultMaxPayloadSize = new OutboxDispatcherOptions().MaxPayloadSize;

    /// <summary>
    /// Adds <paramref name="message"/> to the outbox as part of this context's unit of work: the row is written by the
    /// next <c>SaveChanges</c>, inside the same transaction as the business rows (implicit, explicit or under an
    /// execution strategy). If that transaction rolls back or <c>SaveChanges</c> fails, no message exists.
    /// </summary>
    /// <returns>The message id.</returns>
    /// <exception cref="InvalidOperationException">The model has no outbox: call <c>modelBuilder.AddOutbox()</c>.</exception>
    /// <exception cref="ArgumentException">
    /// An option is invalid (a reserved header name, an over-long value), or the serialized payload is larger than
    /// <see cref="OutboxDispatcherOptions.MaxPayloadSize"/> (4 MiB by default). Nothing is added to the unit of work.
    /// </exception>
    public static Guid Publish<TMessage>(this DbContext context, TMessage message, PublishOptions? options = null)
        where TMessage : notnull
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(message);
        if (context.Model.FindEntityType(typeof(OutboxRecord)) is null)
        {
            throw new InvalidOperationException(
                $"The model of {context.GetType().Name} has no outbox table: call modelBuilder.AddOutbox() in OnModelCreating.");
        }

        var extension = context.GetService<IDbContextOptions>().FindExtension<OutboxDbContextOptionsExtension>();
        var serializer = extension?.Serializer ?? SystemTextJsonMessageSerializer.Default;
        var time = extension?.TimeProvider ?? TimeProvider.System;

        var messageType = options?.MessageType ?? typeof(TMessage).FullName ?? typeof(TMessage).Name;
        var destination = options?.Destination ?? messageType;
        CheckLength(messageType, 512, nameof(PublishOptions.MessageType));
        CheckLength(destination, 512, nameof(PublishOptions.Destination));
        if (options?.PartitionKey is { } key)
        {
            CheckLength(key, 512, nameof(PublishOptions.PartitionKey));
            if (extension is null)
            {
                throw new InvalidOperationException(
                    $"Publishing with a {nameof(PublishOptions.PartitionKey)} numbers the message within its key in the publishing transaction, " +
                    $"which needs the outbox interceptor: configure {context.GetType().Name} with optionsBuilder.UseOutbox(serviceProvider) (or UseOutbox()).");
            }
        }

        string? headers = null;
        if (options is { Headers.Count: > 0 })
        {
            foreach (var name in options.Headers.Keys)
            {
                if (name.StartsWith(OutboxHeaders.ReservedPrefix, StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException($"Header '{name}' uses the reserved prefix '{OutboxHeaders.ReservedPrefix}'.", nameof(options));
                }
            }

            headers = JsonSerializer.Serialize(options.Headers, OutboxJsonContext.Default.IDictionaryStringString);
        }

        var payload = serializer.Serialize(message, typeof(TMessage));
        var maxPayloadSize = extension?.MaxPayloadSize ?? DefaultMaxPayloadSize;
        if (payload.Length > maxPayloadSize)
        {
            throw new ArgumentException(
                $"The payload of {messageType} has {payload.Length} bytes, more than the outbox accepts " +
                $"({nameof(OutboxDispatcherOptions)}.{nameof(OutboxDispatcherOptions.MaxPayloadSize)}, Outbox:Dispatcher:MaxPayloadSize = {maxPayloadSize}). " +
                "Nothing was added to the unit of work: send a reference to the data (a blob URL, an id) instead, or raise the limit up to what the transport takes.",
                nameof(message));
        }

        var record = new OutboxRecord
        {
            MessageId = options?.MessageId ?? Guid.CreateVersion7(time.GetUtcNow()),
            Destination = destination,
            MessageType = messageType,
            PartitionKey = options?.PartitionKey,
            Payload = payload,
            ContentType = serializer.ContentType,
            Headers = headers,
            TraceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : null,
            CreatedAt = CreatedAt(context),
            AvailableAt = options?.DeliverAfter?.UtcDateTime,
        };
        context.Set<OutboxRecord>().Add(record);
        if (extension is not null)
        {
            OutboxSaveChangesInterceptor.Published(context, record);
            context.GetInfrastructure().GetService<OutboxUnsavedPublishWatch>()?.Published(context.GetType().Name, messageType);
        }

        return record.MessageId;
    }

    /// <summary>
    /// <c>created_at</c> comes from the database's clock, not from the configured <see cref="TimeProvider"/> (which
    /// informs ids and in-process timers only). Where the model gives the column a default (PostgreSQL: <c>now()</c>),
    /// it is left unset for the database to fill. Otherwise (SQLite) the database runs inside this process and its
    /// clock (<c>strftime('now')</c>) is the host's system clock, read here the same way.
    /// </summary>
    private static DateTime CreatedAt(DbContext context) =>
        context.Model.FindEntityType(typeof(OutboxRecord))?.FindProperty(nameof(OutboxRecord.CreatedAt)) is { } property
        && property.GetDefaultValueSql() is not null
            ? default
            : TimeProvider.System.GetUtcNow().UtcDateTime;

    private static void CheckLength(string value, int max, string name)
    {
        if (value.Length == 0 || value.Length > max)
        {
            throw new ArgumentException($"{nameof(PublishOptions)}.{name} must have 1 to {max} characters (got {value.Length}).", name);
        }
    }
}
