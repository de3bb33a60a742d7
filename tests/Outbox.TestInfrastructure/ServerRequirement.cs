namespace Outbox.TestInfrastructure;

/// <summary>
/// Whether tests that need a server must fail (rather than skip) when it is unavailable.
/// CI sets <c>OUTBOX_TEST_REQUIRE_SERVERS=1</c> so that a missing server can never pass unnoticed.
/// </summary>
public static class ServerRequirement
{
    public const string EnvironmentVariable = "OUTBOX_TEST_REQUIRE_SERVERS";

    public static bool Required => Environment.GetEnvironmentVariable(EnvironmentVariable) is "1" or "true";
}
