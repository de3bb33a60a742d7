using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Samples.Orders.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class CreatedAtDatabaseClock : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
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
