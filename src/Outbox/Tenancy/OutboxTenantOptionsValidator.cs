using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>The data annotations of <see cref="OutboxTenantOptions"/>, each failure naming its configuration key.</summary>
internal sealed class OutboxTenantOptionsValidator : IValidateOptions<OutboxTenantOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboxTenantOptions options)
    {
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            return ValidateOptionsResult.Success;
        }

        var section = OutboxTenantOptions.SectionOf(name);
        return ValidateOptionsResult.Fail(results.Select(r => $"{section}:{r.MemberNames.FirstOrDefault() ?? nameof(OutboxTenantOptions)}: {r.ErrorMessage}"));
    }
}
