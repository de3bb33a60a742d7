using Microsoft.Extensions.Options;

namespace Outbox.AspNetCore;

/// <summary>Cross-property rules of <see cref="OutboxAdminOptions"/>.</summary>
internal sealed class OutboxAdminOptionsValidator : IValidateOptions<OutboxAdminOptions>
{
    /// <summary>The most buckets kept in memory.</summary>
    public const int MaxBuckets = 10_000;

    public ValidateOptionsResult Validate(string? name, OutboxAdminOptions options)
    {
        if (options.StatsBucket <= TimeSpan.Zero || options.StatsWindow < options.StatsBucket)
        {
            return ValidateOptionsResult.Fail(
                $"{OutboxAdminOptions.SectionName}:{nameof(OutboxAdminOptions.StatsWindow)} ({options.StatsWindow}) must be at least " +
                $"{nameof(OutboxAdminOptions.StatsBucket)} ({options.StatsBucket}).");
        }

        var buckets = options.StatsWindow.Ticks / options.StatsBucket.Ticks;
        return buckets > MaxBuckets
            ? ValidateOptionsResult.Fail(
                $"{OutboxAdminOptions.SectionName}:{nameof(OutboxAdminOptions.StatsWindow)} / {nameof(OutboxAdminOptions.StatsBucket)} gives {buckets} buckets; at most {MaxBuckets}.")
            : ValidateOptionsResult.Success;
    }
}
