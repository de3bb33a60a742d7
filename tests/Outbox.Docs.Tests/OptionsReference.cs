using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Outbox.Docs.Tests;

/// <summary>
/// Builds the options reference of docs/configuration.md from the code: every public <c>*Options</c> class of every
/// package under src/, each property with its type, its actual default (read from a new instance), its allowed values
/// (<see cref="RangeAttribute"/>, <see cref="StringLengthAttribute"/>, <see cref="RequiredAttribute"/>, enums) and its
/// XML documentation.
/// </summary>
internal static partial class OptionsReference
{
    public const string Begin = "<!-- BEGIN GENERATED OPTIONS: do not edit by hand; see the note above. -->";
    public const string End = "<!-- END GENERATED OPTIONS -->";

    // Options named by a consumer: their section has a {consumer} level.
    private static readonly HashSet<string> PerConsumer = ["InboxConsumerOptions", "RabbitMqConsumerOptions", "KafkaConsumerOptions", "ActiveMqConsumerOptions", "HttpInboxOptions"];

    /// <summary>The packages: every project folder under src/, loaded by assembly name.</summary>
    public static IReadOnlyList<Assembly> Packages() =>
        Directory.GetDirectories(Repository.PathOf("src"))
            .Select(Path.GetFileName)
            .Where(name => File.Exists(Repository.PathOf("src", name!, $"{name}.csproj")))
            .Order(StringComparer.Ordinal)
            .Select(name => Assembly.Load(name!))
            .ToList();

    public static IEnumerable<Type> OptionTypes(Assembly assembly) =>
        assembly.GetExportedTypes()
            .Where(t => t.IsClass && !t.IsAbstract && t.Name.EndsWith("Options", StringComparison.Ordinal) && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.Name, StringComparer.Ordinal);

    public static string Generate()
    {
        var text = new StringBuilder();
        text.Append(Begin).Append('\n');
        foreach (var assembly in Packages())
        {
            var types = OptionTypes(assembly).ToList();
            if (types.Count == 0)
            {
                continue;
            }

            var docs = XmlDocs.For(assembly);
            text.Append('\n').Append("## ").Append(assembly.GetName().Name).Append('\n');
            foreach (var type in types)
            {
                text.Append('\n').Append("### `").Append(type.Name).Append("`\n\n");
                text.Append(docs.Summary($"T:{type.FullName}")).Append('\n').Append('\n');
                var section = type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() as string;
                text.Append(section is null
                    ? "Set in code (see the summary above).\n"
                    : PerConsumer.Contains(type.Name)
                        ? $"Configuration section: `{section}:{{consumer}}`, one per consumer name.\n"
                        : $"Configuration section: `{section}`.\n");
                text.Append('\n').Append("| Option | Type | Default | Allowed | Description |\n| --- | --- | --- | --- | --- |\n");
                var instance = Activator.CreateInstance(type)!;
                foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetMethod is { IsPublic: true }).OrderBy(p => p.MetadataToken))
                {
                    var member = $"P:{type.FullName}.{property.Name}";
                    text.Append("| `").Append(property.Name).Append("` | ")
                        .Append(Cell(TypeName(property.PropertyType))).Append(" | ")
                        .Append(Cell(Default(property, instance, docs.Value(member)))).Append(" | ")
                        .Append(Cell(Allowed(property))).Append(" | ")
                        .Append(Cell(docs.Summary(member))).Append(" |\n");
                }
            }
        }

        text.Append('\n').Append(End);
        return text.ToString();
    }

    private static string Default(PropertyInfo property, object instance, string valueDoc)
    {
        var type = property.PropertyType;
        if (typeof(Delegate).IsAssignableFrom(type) || (property.GetValue(instance) is { } v && typeof(Delegate).IsAssignableFrom(v.GetType())))
        {
            return DefaultPrefix().Replace(valueDoc, "").TrimEnd('.');
        }

        return property.GetValue(instance) switch
        {
            // null often stands for a computed default ("the message type name"): the documentation says which.
            null => valueDoc.Length > 0 ? DefaultPrefix().Replace(valueDoc, "").TrimEnd('.') : "`null`",
            bool b => b ? "`true`" : "`false`",
            TimeSpan t => $"`{t.ToString("c", CultureInfo.InvariantCulture)}`",
            string s => $"`\"{s}\"`",
            Enum e => $"`{e}`",
            IDictionary d => d.Count == 0 ? "empty" : $"{d.Count} entries",
            ICollection c => c.Count == 0 ? "empty" : $"{c.Count} items",
            IFormattable f => $"`{f.ToString(null, CultureInfo.InvariantCulture)}`",
            var other => $"`{other}`",
        };
    }

    private static string Allowed(PropertyInfo property)
    {
        var parts = new List<string>();
        if (property.GetCustomAttribute<RequiredAttribute>() is not null)
        {
            parts.Add("required");
        }

        if (property.GetCustomAttribute<RangeAttribute>() is { } range)
        {
            parts.Add(range.Maximum is double max && max >= long.MaxValue
                ? $"`{Bound(range.Minimum)}` or more"
                : $"`{Bound(range.Minimum)}` to `{Bound(range.Maximum)}`");
        }

        if (property.GetCustomAttribute<StringLengthAttribute>() is { } length)
        {
            parts.Add($"{length.MinimumLength} to {length.MaximumLength} characters");
        }

        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        if (type.IsEnum)
        {
            parts.Add(string.Join(", ", Enum.GetNames(type).Select(n => $"`{n}`")));
        }

        return parts.Count == 0 ? "" : string.Join("; ", parts);
    }

    private static string Bound(object value) => value switch
    {
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string TypeName(Type type)
    {
        if (Nullable.GetUnderlyingType(type) is { } inner)
        {
            return TypeName(inner) + "?";
        }

        if (!type.IsGenericType)
        {
            return type switch
            {
                _ when type == typeof(int) => "int",
                _ when type == typeof(long) => "long",
                _ when type == typeof(double) => "double",
                _ when type == typeof(bool) => "bool",
                _ when type == typeof(string) => "string",
                _ => type.Name,
            };
        }

        var name = type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)];
        return $"{name}<{string.Join(", ", type.GetGenericArguments().Select(TypeName))}>";
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    [GeneratedRegex("^The default value (is )?", RegexOptions.IgnoreCase)]
    private static partial Regex DefaultPrefix();

    /// <summary>The XML documentation file of an assembly, rendered to Markdown-ish text.</summary>
    private sealed partial class XmlDocs(Dictionary<string, XElement> members)
    {
        public static XmlDocs For(Assembly assembly)
        {
            var path = Path.ChangeExtension(assembly.Location, ".xml");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"No XML documentation next to {assembly.Location}.", path);
            }

            var members = XDocument.Load(path).Descendants("member")
                .Where(m => m.Attribute("name") is not null)
                .GroupBy(m => m.Attribute("name")!.Value)
                .ToDictionary(g => g.Key, g => g.First());
            return new XmlDocs(members);
        }

        public string Summary(string member) =>
            members.TryGetValue(member, out var element) && element.Element("summary") is { } summary ? Render(summary, skipValue: true) : "";

        public string Value(string member)
        {
            if (!members.TryGetValue(member, out var element))
            {
                return "";
            }

            var value = element.Descendants("value").FirstOrDefault();
            return value is null ? "" : Render(value, skipValue: false);
        }

        private static string Render(XElement element, bool skipValue)
        {
            var text = new StringBuilder();
            foreach (var node in element.Nodes())
            {
                switch (node)
                {
                    case XText t:
                        text.Append(t.Value);
                        break;
                    case XElement { Name.LocalName: "value" } when skipValue:
                        break;
                    case XElement { Name.LocalName: "see" or "seealso" } see:
                        var reference = see.Attribute("langword")?.Value ?? see.Attribute("cref")?.Value ?? see.Attribute("href")?.Value ?? "";
                        text.Append('`').Append(Short(reference)).Append('`');
                        break;
                    case XElement { Name.LocalName: "paramref" or "typeparamref" } p:
                        text.Append('`').Append(p.Attribute("name")?.Value).Append('`');
                        break;
                    case XElement { Name.LocalName: "c" or "code" } c:
                        text.Append('`').Append(c.Value).Append('`');
                        break;
                    case XElement other:
                        text.Append(Render(other, skipValue));
                        break;
                }
            }

            return Whitespace().Replace(text.ToString(), " ").Trim();
        }

        /// <summary><c>P:Outbox.OutboxDispatcherOptions.SendTimeout</c> → <c>OutboxDispatcherOptions.SendTimeout</c>.</summary>
        private static string Short(string cref)
        {
            var name = cref.Length > 2 && cref[1] == ':' ? cref[2..] : cref;
            var paren = name.IndexOf('(', StringComparison.Ordinal);
            if (paren >= 0)
            {
                name = name[..paren];
            }

            name = GenericArity().Replace(name, "");
            var parts = name.Split('.');
            return cref.StartsWith("T:", StringComparison.Ordinal) || parts.Length < 2 ? parts[^1] : $"{parts[^2]}.{parts[^1]}";
        }

        [GeneratedRegex(@"\s+")]
        private static partial Regex Whitespace();

        [GeneratedRegex(@"`\d+")]
        private static partial Regex GenericArity();
    }
}
