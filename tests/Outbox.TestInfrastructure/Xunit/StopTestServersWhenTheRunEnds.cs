// Compiled into each xunit test project that uses the test servers (linked from its .csproj), not into
// Outbox.TestInfrastructure itself, which has no test framework dependency.
using Outbox.TestInfrastructure;
using Xunit.Sdk;
using Xunit.v3;

[assembly: TestPipelineStartup(typeof(StopTestServersWhenTheRunEnds))]

namespace Outbox.TestInfrastructure;

/// <summary>
/// Stops the servers this test process started (and drops what it made on shared ones) when the test run ends,
/// while xunit's runner still waits for it, instead of at process exit (see <see cref="TestRunCleanup"/>).
/// </summary>
internal sealed class StopTestServersWhenTheRunEnds : ITestPipelineStartup
{
    public ValueTask StartAsync(IMessageSink diagnosticMessageSink) => ValueTask.CompletedTask;

    public async ValueTask StopAsync() => await TestRunCleanup.RunAsync();
}
