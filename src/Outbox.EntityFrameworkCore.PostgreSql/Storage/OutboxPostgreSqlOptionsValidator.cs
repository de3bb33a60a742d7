using Microsoft.Extensions.Options;
using Npgsql;

namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>Checks what data annotations cannot: that the connection strings set are Npgsql connection strings.</summary>
internal sealed class OutboxPostgreSqlOptionsValidator : IValidateOptions<OutboxPostgreSqlOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboxPostgreSqlOptions options)
    {
        var failures = new List<string>();
        Check(nameof(OutboxPostgreSqlOptions.ConnectionString), options.ConnectionString, failures);
        Check(nameof(OutboxPostgreSqlOptions.ListenerConnectionString), options.ListenerConnectionString, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(string option, string? value, List<string> failures)
    {
        if (value is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            failures.Add($"OutboxPostgreSqlOptions.{option} is empty: leave it null for the default, or give a connection string.");
            return;
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(value);
        }
        catch (ArgumentException ex)
        {
            // The message names the keyword, not the value: a connection string may hold a password.
            failures.Add($"OutboxPostgreSqlOptions.{option} is not a valid Npgsql connection string: {ex.Message}");
        }
    }
}
