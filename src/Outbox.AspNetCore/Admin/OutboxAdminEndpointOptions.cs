namespace Outbox.AspNetCore;

/// <summary>
/// How <c>MapOutboxAdmin</c> exposes the admin API and dashboard. An authorization policy is required: mapping fails
/// unless <see cref="AuthorizationPolicy"/> names one, or <see cref="AllowAnonymous"/> is set on purpose.
/// </summary>
public sealed class OutboxAdminEndpointOptions
{
    /// <summary>
    /// The name of the authorization policy every admin endpoint and the dashboard require (registered with
    /// <c>AddAuthorization(o =&gt; o.AddPolicy(name, ...))</c>).
    /// <value>The default value is <see langword="null"/>: none, which fails the mapping unless <see cref="AllowAnonymous"/> is set.</value>
    /// </summary>
    public string? AuthorizationPolicy { get; set; }

    /// <summary>
    /// Exposes the admin API (which can requeue and delete messages) without any authorization. For local development
    /// only; a warning is logged at mapping.
    /// <value>The default value is <see langword="false"/>.</value>
    /// </summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// Whether to serve the dashboard page along with the JSON API.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool EnableDashboard { get; set; } = true;
}
