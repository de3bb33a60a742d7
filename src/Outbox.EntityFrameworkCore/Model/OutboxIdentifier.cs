using System.Text.RegularExpressions;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Validates identifiers that come from options (schema and table names) before they reach the model or SQL.
/// They are also quoted with the provider's <c>ISqlGenerationHelper</c> wherever SQL is built.
/// </summary>
internal static partial class OutboxIdentifier
{
    public static void Validate(string? value, string optionName, bool allowNull)
    {
        if (value is null)
        {
            if (allowNull)
            {
                return;
            }

            throw new ArgumentException($"{optionName} must not be null.", optionName);
        }

        if (!Pattern().IsMatch(value))
        {
            throw new ArgumentException(
                $"{optionName} '{value}' is not a valid identifier: use 1 to 63 letters, digits or underscores, starting with a letter or underscore.",
                optionName);
        }
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
