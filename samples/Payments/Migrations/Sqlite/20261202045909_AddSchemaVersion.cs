using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Samples.Payments.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddSchemaVersion : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "inbox_messages_schema",
                columns: table => new
                {
                    id = table.Column<int>(type: "INTEGER", nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_inbox_messages_schema", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "outbox_messages_schema",
                columns: table => new
                {
                    id = table.Column<int>(type: "INTEGER", nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_outbox_messages_schema", x => x.id);
                });

            migrationBuilder.InsertData(
                table: "inbox_messages_schema",
                columns: new[] { "id", "version" },
                values: new object[] { 1, 2 });

            migrationBuilder.InsertData(
                table: "outbox_messages_schema",
                columns: new[] { "id", "version" },
                values: new object[] { 1, 2 });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "inbox_messages_schema");

            migrationBuilder.DropTable(
                name: "outbox_messages_schema");
        }
    }
}
