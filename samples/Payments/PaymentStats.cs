namespace Samples.Payments;

/// <summary>What GET /payments/stats answers.</summary>
public sealed record PaymentStats(int Payments, int Completed, int Failed, int OrdersChargedMoreThanOnce, long InboxDuplicatesSkipped);
