using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Outbox.Migrations.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "inbox_dead_letters",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    consumer = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    message_id = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    message_type = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    partition_key = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    payload = table.Column<byte[]>(type: "BLOB", nullable: false),
                    content_type = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    headers = table.Column<string>(type: "TEXT", nullable: true),
                    trace_parent = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    reason = table.Column<string>(type: "TEXT", nullable: false),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    received_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    dead_lettered_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_inbox_dead_letters", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "inbox_messages",
                columns: table => new
                {
                    consumer = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    message_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    received_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    processed_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_inbox_messages", x => new { x.consumer, x.message_id });
                });

            migrationBuilder.CreateTable(
                name: "inbox_sequences",
                columns: table => new
                {
                    consumer = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    partition_key = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    last_sequence = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_inbox_sequences", x => new { x.consumer, x.partition_key });
                });

            migrationBuilder.CreateTable(
                name: "outbox_dead_letters",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false),
                    message_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    destination = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    message_type = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    partition_key = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    sequence_number = table.Column<long>(type: "INTEGER", nullable: true),
                    payload = table.Column<byte[]>(type: "BLOB", nullable: false),
                    content_type = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    headers = table.Column<string>(type: "TEXT", nullable: true),
                    trace_parent = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    reason = table.Column<string>(type: "TEXT", nullable: false),
                    dead_lettered_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_outbox_dead_letters", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "outbox_messages",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    message_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    destination = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    message_type = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    partition_key = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    sequence_number = table.Column<long>(type: "INTEGER", nullable: true),
                    payload = table.Column<byte[]>(type: "BLOB", nullable: false),
                    content_type = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    headers = table.Column<string>(type: "TEXT", nullable: true),
                    trace_parent = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    available_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    last_error = table.Column<string>(type: "TEXT", nullable: true),
                    lease_owner = table.Column<Guid>(type: "TEXT", nullable: true),
                    lease_expires_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_outbox_messages", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "outbox_sequences",
                columns: table => new
                {
                    partition_key = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    last_sequence = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_outbox_sequences", x => x.partition_key);
                });

            migrationBuilder.CreateIndex(
                name: "ix_inbox_dead_letters_consumer_dead_lettered_at",
                table: "inbox_dead_letters",
                columns: new[] { "consumer", "dead_lettered_at" });

            migrationBuilder.CreateIndex(
                name: "ix_inbox_messages_received_at",
                table: "inbox_messages",
                column: "received_at");

            migrationBuilder.CreateIndex(
                name: "ix_outbox_dead_letters_dead_lettered_at",
                table: "outbox_dead_letters",
                column: "dead_lettered_at");

            migrationBuilder.CreateIndex(
                name: "ix_outbox_dead_letters_partition_key",
                table: "outbox_dead_letters",
                column: "partition_key",
                filter: "partition_key IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_outbox_messages_partition_key_sequence",
                table: "outbox_messages",
                columns: new[] { "partition_key", "sequence_number" },
                filter: "partition_key IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "inbox_dead_letters");

            migrationBuilder.DropTable(
                name: "inbox_messages");

            migrationBuilder.DropTable(
                name: "inbox_sequences");

            migrationBuilder.DropTable(
                name: "outbox_dead_letters");

            migrationBuilder.DropTable(
                name: "outbox_messages");

            migrationBuilder.DropTable(
                name: "outbox_sequences");
        }
    }
}
