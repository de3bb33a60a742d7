global using Outbox.Testing;
global using Microsoft.Extensions.DependencyInjection;
