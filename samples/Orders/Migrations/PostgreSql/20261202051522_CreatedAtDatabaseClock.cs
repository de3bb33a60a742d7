using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Samples.Orders.Migrations.PostgreSql
{
    /// <inheritdoc />
    public partial class CreatedAtDatabaseClock : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<DateTime>(
                name: "created_at",
                table: "outbox_messages",
                type: "timestamp with time zone",
                nullable: false,
                defaultValueSql: "now()",
                oldClrType: typeof(DateTime),
                oldType: "timestamp with time zone");

            migrationBuilder.UpdateData(
                table: "inbox_messages_schema",
                keyColumn: "id",
                keyValue: 1,
                column: "version",
                value: 3);

            migrationBuilder.UpdateData(
                table: "outbox_messages_schema",
                keyColumn: "id",
                keyValue: 1,
                column: "version",
                value: 3);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<DateTime>(
                name: "created_at",
                table: "outbox_messages",
                type: "timestamp with time zone",
                nullable: false,
                oldClrType: typeof(DateTime),
                oldType: "timestamp with time zone",
                oldDefaultValueSql: "now()");

            migrationBuilder.UpdateData(
                table: "inbox_messages_schema",
                keyColumn: "id",
                keyValue: 1,
                column: "version",
                value: 2);

            migrationBuilder.UpdateData(
                table: "outbox_messages_schema",
                keyColumn: "id",
                keyValue: 1,
                column: "version",
                value: 2);
        }
    }
}
