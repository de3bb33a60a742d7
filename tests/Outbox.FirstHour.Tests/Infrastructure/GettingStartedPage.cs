using System.Text.RegularExpressions;

namespace Outbox.FirstHour.Tests.Infrastructure;

/// <summary>docs/getting-started.md, "Your first message": its steps' code blocks, as a user copies them.</summary>
internal sealed partial class GettingStartedPage
{
    private readonly string _section;

    public GettingStartedPage()
    {
        var page = File.ReadAllText(Path.Combine(LocalFeed.RepositoryRoot, "docs", "getting-started.md"));
        var start = page.IndexOf("## Your first message", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/getting-started.md has no 'Your first message' section.");
        var end = page.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        _section = end < 0 ? page[start..] : page[start..end];
    }

    /// <summary>The text of the section, for the sentences the test relies on.</summary>
    public string Text => _section;

    /// <summary>The <paramref name="index"/>-th code block after the paragraph that starts with <paramref name="step"/>.</summary>
    public string Block(string step, int index = 0)
    {
        var at = _section.IndexOf(step, StringComparison.Ordinal);
        Assert.True(at >= 0, $"The section has no step '{step}'.");
        var blocks = CodeBlock().Matches(_section, at);
        Assert.True(blocks.Count > index, $"Step '{step}' has no code block {index}.");
        return blocks[index].Groups["body"].Value;
    }

    /// <summary>The commands of a bash block: comments dropped, <c>a &amp;&amp; b</c> as two commands.</summary>
    public IReadOnlyList<string> Commands(string step, int index = 0) =>
        Block(step, index).Split('\n')
            .Select(line => line.Contains('#', StringComparison.Ordinal) ? line[..line.IndexOf('#', StringComparison.Ordinal)] : line)
            .SelectMany(line => line.Split("&&"))
            .Select(command => command.Trim())
            .Where(command => command.Length > 0)
            .ToList();

    [GeneratedRegex("```[a-z]*\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();
}
