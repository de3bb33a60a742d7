using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Outbox.Docs.Tests;

/// <summary>
/// Every <c>```csharp</c> block of README.md, docs/*.md and the packages' README.md compiles as shown, with Roslyn,
/// against this repository's packages and the shared frameworks, as a <c>Program.cs</c> of a project made by
/// <c>dotnet new web</c> (whose implicit usings it gets, and nothing more: any other <c>using</c> must be in the snippet).
/// <para>
/// A snippet may use, without declaring them, the names the docs use for the reader's own code: the locals
/// <c>builder</c>, <c>app</c>, <c>connectionString</c>, <c>db</c>, <c>order</c> and the types in <see cref="AmbientTypes"/>
/// (<c>ShopDb</c>, <c>PaymentsDb</c>, <c>OrderPlaced</c>, ...). What a snippet declares itself replaces them. A block that
/// is a deliberate fragment (not code on its own) is preceded by the line <c>&lt;!-- not compiled: reason --&gt;</c>.
/// </para>
/// </summary>
public sealed partial class SnippetTests
{
    private const string NotCompiledMarker = "<!-- not compiled:";

    /// <summary>The implicit usings of an SDK-style web project (Microsoft.NET.Sdk.Web), as <c>dotnet new web</c> has them.</summary>
    private const string WebImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Net.Http.Json;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using Microsoft.AspNetCore.Builder;
        global using Microsoft.AspNetCore.Hosting;
        global using Microsoft.AspNetCore.Http;
        global using Microsoft.AspNetCore.Routing;
        global using Microsoft.Extensions.Configuration;
        global using Microsoft.Extensions.DependencyInjection;
        global using Microsoft.Extensions.Hosting;
        global using Microsoft.Extensions.Logging;
        """;

    /// <summary>The reader's own locals the snippets refer to, declared before a snippet's statements when it uses them.</summary>
    private static readonly (string Name, string Declaration)[] AmbientLocals =
    [
        ("builder", "var builder = WebApplication.CreateBuilder(args);"),
        ("app", "var app = builder.Build();"),
        ("connectionString", "var connectionString = builder.Configuration.GetConnectionString(\"Shop\");"),
        ("db", "ShopDb db = null!;"),
        ("order", "var order = new Order();"),
    ];

    /// <summary>The reader's own types the snippets refer to; each is left out when the snippet declares a type of that name.</summary>
    private static readonly (string Name, string Declaration)[] AmbientTypes =
    [
        ("ShopDb", "public sealed class ShopDb(Microsoft.EntityFrameworkCore.DbContextOptions<ShopDb> options) : Microsoft.EntityFrameworkCore.DbContext(options) { public Microsoft.EntityFrameworkCore.DbSet<Order> Orders => Set<Order>(); }"),
        ("OrdersDb", "public sealed class OrdersDb(Microsoft.EntityFrameworkCore.DbContextOptions<OrdersDb> options) : Microsoft.EntityFrameworkCore.DbContext(options);"),
        ("BillingDb", "public sealed class BillingDb(Microsoft.EntityFrameworkCore.DbContextOptions<BillingDb> options) : Microsoft.EntityFrameworkCore.DbContext(options);"),
        ("PaymentsDb", "public sealed class PaymentsDb(Microsoft.EntityFrameworkCore.DbContextOptions<PaymentsDb> options) : Microsoft.EntityFrameworkCore.DbContext(options) { public Microsoft.EntityFrameworkCore.DbSet<Payment> Payments => Set<Payment>(); }"),
        ("Order", "public sealed class Order { public Guid Id { get; set; } public decimal Total { get; set; } }"),
        ("Payment", "public sealed class Payment { public Guid Id { get; set; } public Guid OrderId { get; set; } public decimal Amount { get; set; } }"),
        ("PlaceOrder", "public sealed record PlaceOrder(decimal Total);"),
        ("OrderPlaced", "public sealed record OrderPlaced(Guid OrderId, decimal Total);"),
        ("PaymentRequested", "public sealed record PaymentRequested(Guid OrderId);"),
        ("OrderPlacedHandler", "public sealed class OrderPlacedHandler : Outbox.IMessageHandler<OrderPlaced> { public Task HandleAsync(OrderPlaced message, Outbox.MessageContext context, CancellationToken cancellationToken) => Task.CompletedTask; }"),
    ];

    private static readonly Lazy<IReadOnlyList<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToList());

    public static TheoryData<string> Snippets => new(Find().Where(s => s.Excluded is null).Select(s => s.Id));

    [Fact]
    public void Docs_HaveCSharpSnippets_AndEveryExcludedOneSaysWhy()
    {
        var snippets = Find();
        Assert.True(snippets.Count(s => s.Excluded is null) >= 10, $"Expected the docs' C# snippets, found {snippets.Count}.");
        Assert.Contains(snippets, s => s.Id.StartsWith("README.md:", StringComparison.Ordinal) && s.Excluded is null);
        Assert.Contains(snippets, s => s.Id.StartsWith("docs/getting-started.md:", StringComparison.Ordinal) && s.Excluded is null);
        foreach (var snippet in snippets.Where(s => s.Excluded is not null))
        {
            Assert.True(snippet.Excluded!.Length > 0, $"{snippet.Id} is marked '{NotCompiledMarker} -->' without a reason.");
        }
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_AsShown_Compiles(string id)
    {
        var snippet = Find().Single(s => s.Id == id);
        var errors = Compile(snippet)
            .Where(d => d.Severity == DiagnosticSeverity.Error)
            .Select(d => $"{d.Location.GetMappedLineSpan().Path}:{d.Location.GetMappedLineSpan().StartLinePosition.Line + 1}: {d.Id} {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}")
            .ToList();

        Assert.True(errors.Count == 0, $"The C# snippet at {id} does not compile as shown:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}{Environment.NewLine}---{Environment.NewLine}{snippet.Code}");
    }

    [Fact]
    public void Compile_SnippetWithAMistake_ReportsItAtItsLineInTheDoc()
    {
        // The test itself: a snippet that calls what does not exist fails, and the error points into the doc.
        var broken = new Snippet("docs/example.md:10", "docs/example.md", 10, "using Outbox;\n\nbuilder.Services.AddOutbox().UseNothingThatExists();\n", null);

        var errors = Compile(broken).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

        var error = Assert.Single(errors);
        Assert.Equal("CS1061", error.Id);
        Assert.Equal("docs/example.md", error.Location.GetMappedLineSpan().Path);
        Assert.Equal(12, error.Location.GetMappedLineSpan().StartLinePosition.Line + 1);
    }

    private static System.Collections.Immutable.ImmutableArray<Diagnostic> Compile(Snippet snippet)
    {
        var options = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest);
        var parsed = CSharpSyntaxTree.ParseText(snippet.Code, options);
        var root = (CompilationUnitSyntax)parsed.GetRoot();
        var declaredTypes = root.DescendantNodes().OfType<BaseTypeDeclarationSyntax>().Select(t => t.Identifier.Text).ToHashSet(StringComparer.Ordinal);
        var statements = root.Members.OfType<GlobalStatementSyntax>().ToList();
        var declaredLocals = statements
            .SelectMany(s => s.DescendantNodes().OfType<VariableDeclaratorSyntax>())
            .Select(v => v.Identifier.Text)
            .ToHashSet(StringComparer.Ordinal);
        var usedNames = root.DescendantNodes().OfType<IdentifierNameSyntax>().Select(n => n.Identifier.Text).ToHashSet(StringComparer.Ordinal);

        // The ambient locals go after the snippet's usings; #line keeps every diagnostic at its line in the doc.
        var code = snippet.Code;
        if (statements.Count > 0)
        {
            var needed = AmbientLocals.Where(l => !declaredLocals.Contains(l.Name) && usedNames.Contains(l.Name)).ToList();
            if (needed.Count > 0 && !declaredLocals.Contains("builder"))
            {
                // app, connectionString come from builder: declare it whenever another ambient local is needed.
                needed = AmbientLocals.Where(l => l.Name == "builder" || needed.Contains(l)).ToList();
            }

            var insertAt = root.Usings.Count > 0 ? root.Usings.Last().FullSpan.End : 0;
            var usingLines = code[..insertAt].Count(c => c == '\n');
            var prelude = "#line hidden\n" + string.Join("\n", needed.Select(l => l.Declaration)) +
                $"\n#line {snippet.Line + usingLines} \"{snippet.File}\"\n";
            code = code[..insertAt] + prelude + code[insertAt..];
        }

        var first = $"#line {snippet.Line} \"{snippet.File}\"\n";
        var trees = new List<SyntaxTree>
        {
            CSharpSyntaxTree.ParseText(first + code, options, path: snippet.File),
            CSharpSyntaxTree.ParseText(WebImplicitUsings, options, path: "GlobalUsings.g.cs"),
            CSharpSyntaxTree.ParseText(
                string.Join("\n", AmbientTypes.Where(t => !declaredTypes.Contains(t.Name)).Select(t => t.Declaration)),
                options,
                path: "Ambient.cs"),
        };

        var compilation = CSharpCompilation.Create(
            "Snippet",
            trees,
            References.Value,
            new CSharpCompilationOptions(statements.Count > 0 ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary)
                .WithNullableContextOptions(NullableContextOptions.Enable));
        return compilation.GetDiagnostics();
    }

    /// <summary>The C# blocks of the docs, each with its file, the line of its first code line and its exclusion reason.</summary>
    private static List<Snippet> Find()
    {
        var files = new[] { Repository.PathOf("README.md") }
            .Concat(Directory.GetFiles(Repository.PathOf("docs"), "*.md").Order(StringComparer.Ordinal))
            .Concat(Directory.GetDirectories(Repository.PathOf("src")).Order(StringComparer.Ordinal).Select(d => Path.Combine(d, "README.md")).Where(File.Exists));
        var snippets = new List<Snippet>();
        foreach (var path in files)
        {
            var relative = Path.GetRelativePath(Repository.Root, path).Replace('\\', '/');
            var lines = File.ReadAllLines(path);
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim() != "```csharp")
                {
                    continue;
                }

                var end = Array.FindIndex(lines, i + 1, l => l.Trim() == "```");
                Assert.True(end > i, $"{relative}:{i + 1}: a ```csharp block is never closed.");
                var excluded = i > 0 && lines[i - 1].Trim() is var previous && previous.StartsWith(NotCompiledMarker, StringComparison.Ordinal)
                    ? MarkerReason().Match(previous).Groups[1].Value.Trim()
                    : null;
                var code = string.Join('\n', lines[(i + 1)..end]) + "\n";
                snippets.Add(new Snippet($"{relative}:{i + 2}", relative, i + 2, code, excluded));
                i = end;
            }
        }

        return snippets;
    }

    [GeneratedRegex("<!-- not compiled:(.*?)-->")]
    private static partial Regex MarkerReason();

    private sealed record Snippet(string Id, string File, int Line, string Code, string? Excluded);
}
