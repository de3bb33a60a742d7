namespace Outbox.Docs.Tests;

/// <summary>
/// docs/configuration.md lists every option of every package with its actual default and range: its reference part is
/// generated from the code (<see cref="OptionsReference"/>), and this test fails when the file differs, for example
/// when an option was added, removed, or had its default or range changed.
/// </summary>
public sealed class ConfigurationDocTests
{
    /// <summary>Set to 1 to rewrite the generated part of docs/configuration.md instead of failing.</summary>
    public const string UpdateVariable = "OUTBOX_UPDATE_DOCS";

    [Fact]
    public void ConfigurationDoc_ListsEveryOptionWithItsDefaultAndRange()
    {
        var path = Repository.PathOf("docs", "configuration.md");
        var generated = OptionsReference.Generate();
        var text = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : "";
        var begin = text.IndexOf(OptionsReference.Begin, StringComparison.Ordinal);
        var end = text.IndexOf(OptionsReference.End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, $"{path} lacks the markers of its generated part ({OptionsReference.Begin} ... {OptionsReference.End}).");
        var current = text[begin..(end + OptionsReference.End.Length)];
        if (current == generated)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, text[..begin] + generated + text[(end + OptionsReference.End.Length)..]);
            return;
        }

        var expected = generated.Split('\n');
        var actual = current.Split('\n');
        var firstDifference = Enumerable.Range(0, Math.Max(expected.Length, actual.Length))
            .First(i => i >= expected.Length || i >= actual.Length || expected[i] != actual[i]);
        Assert.Fail(
            $"docs/configuration.md is out of date with the options classes. First difference, in the generated part's line {firstDifference + 1}:\n" +
            $"  doc:  {(firstDifference < actual.Length ? actual[firstDifference] : "(end)")}\n" +
            $"  code: {(firstDifference < expected.Length ? expected[firstDifference] : "(end)")}\n" +
            $"Regenerate: {UpdateVariable}=1 dotnet test --project tests/Outbox.Docs.Tests -- --filter-class \"*ConfigurationDocTests*\"");
    }

    [Fact]
    public void OptionsReference_CoversEveryPackageAndKnownOption()
    {
        var generated = OptionsReference.Generate();
        foreach (var name in new[] { "OutboxDispatcherOptions", "InboxConsumerOptions", "InboxCleanupOptions", "RabbitMqOptions", "KafkaOptions", "KafkaConsumerOptions", "ActiveMqOptions", "ActiveMqConsumerOptions", "HttpTransportOptions", "HttpInboxOptions" })
        {
            Assert.Contains($"### `{name}`", generated, StringComparison.Ordinal);
        }

        Assert.Contains("| `BatchSize` | int | `200` | `1` to `10000` |", generated, StringComparison.Ordinal);
    }
}
