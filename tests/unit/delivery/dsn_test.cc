// dsn_test.cc -- unit tests of the bounce builder: the multipart/report structure (boundaries,
// the parts' types, every required field), CRLF-only lines of at most 998 octets, several
// recipients, the UTF-8 variant, hostile diagnostics and headers, and one parse by Python's
// standard `email` package as an independent reader.
#include "relay/delivery/dsn.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace relay::delivery {
namespace {

constexpr std::uint64_t now_ms = 1739440800123;      // Thu, 13 Feb 2025 10:00:00 UTC
constexpr std::uint64_t arrival_ms = 1739011200000;  // Sat, 08 Feb 2025 10:40:00 UTC

constexpr std::string_view original_headers =
    "Received: from client.example.com by relay.test; Sat, 08 Feb 2025 10:40:00 +0000\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Subject: Quarterly report\r\n"
    "Message-ID: <abc@example.com>\r\n";

DsnInput base_input() {
    DsnInput input;
    input.reporting_mta = "relay.test";
    input.sender = "alice@example.com";
    input.queue_id = "0194F2A1B2C3D4E5";
    input.arrival_unix_ms = arrival_ms;
    input.now_unix_ms = now_ms;
    input.original_headers = original_headers;
    DsnRecipient bob;
    bob.address = "bob@example.org";
    bob.status = "5.1.1";
    bob.remote_mta = "mx.example.org";
    bob.diagnostic = "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown";
    input.recipients.push_back(bob);
    return input;
}

// ---- a small reader for what build_dsn writes -----------------------------------------------

struct Entity {
    std::vector<std::pair<std::string, std::string>> fields;  // unfolded, in order
    std::string body;

    // The value of the first field called `name` (case-insensitive), or "" if none.
    std::string field(std::string_view name) const {
        for (const auto& [key, value] : fields) {
            if (key.size() == name.size() &&
                std::equal(key.begin(), key.end(), name.begin(),
                           [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
                return value;
            }
        }
        return "";
    }
    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (const auto& [key, value] : fields) {
            n += key == name ? 1 : 0;
        }
        return n;
    }
};

// Splits header fields from the body at the first empty line and unfolds the fields.
Entity parse_entity(std::string_view text) {
    Entity entity;
    const std::size_t end = text.find("\r\n\r\n");
    std::string_view head = text.substr(0, end == std::string_view::npos ? text.size() : end + 2);
    entity.body = end == std::string_view::npos ? "" : std::string(text.substr(end + 4));
    if (text.starts_with("\r\n")) {  // no fields at all
        entity.body = std::string(text.substr(2));
        return entity;
    }
    while (!head.empty()) {
        const std::size_t line_end = head.find("\r\n");
        const std::string_view line = head.substr(0, line_end);
        head.remove_prefix(line_end + 2);
        if (line.starts_with(" ") || line.starts_with("\t")) {
            EXPECT_FALSE(entity.fields.empty());
            if (!entity.fields.empty()) {
                entity.fields.back().second += line;  // unfolding removes only the CRLF
            }
            continue;
        }
        const std::size_t colon = line.find(':');
        EXPECT_NE(colon, std::string_view::npos) << line;
        std::string value(line.substr(colon + 1));
        if (value.starts_with(" ")) {
            value.erase(0, 1);
        }
        entity.fields.emplace_back(std::string(line.substr(0, colon)), value);
    }
    return entity;
}

struct Report {
    Entity top;
    std::string boundary;
    std::vector<Entity> parts;
};

Report parse_report(const std::string& message) {
    Report report;
    report.top = parse_entity(message);
    const std::string type = report.top.field("Content-Type");
    const std::size_t at = type.find("boundary=\"");
    EXPECT_NE(at, std::string::npos) << type;
    if (at == std::string::npos) {
        return report;
    }
    const std::size_t start = at + 10;
    report.boundary = type.substr(start, type.find('"', start) - start);
    const std::string delimiter = "\r\n--" + report.boundary;
    std::string_view body = report.top.body;
    // The preamble ends at the first delimiter (which may start the body without its CRLF).
    std::size_t position = body.find(delimiter);
    EXPECT_NE(position, std::string_view::npos);
    while (position != std::string_view::npos) {
        std::string_view rest = body.substr(position + delimiter.size());
        if (rest.starts_with("--")) {
            EXPECT_EQ(rest, "--\r\n");  // close delimiter, no epilogue
            break;
        }
        EXPECT_TRUE(rest.starts_with("\r\n"));
        rest.remove_prefix(2);
        const std::size_t next = rest.find(delimiter);
        report.parts.push_back(parse_entity(rest.substr(0, next)));
        if (next == std::string_view::npos) {
            ADD_FAILURE() << "no close delimiter";
            break;
        }
        body = rest;
        position = next;
    }
    return report;
}

// The delivery-status body: blocks of fields separated by empty lines.
std::vector<Entity> parse_status_blocks(std::string_view body) {
    std::vector<Entity> blocks;
    while (!body.empty()) {
        const std::size_t end = body.find("\r\n\r\n");
        const std::string_view block =
            body.substr(0, end == std::string_view::npos ? body.size() : end + 2);
        blocks.push_back(parse_entity(std::string(block) + "\r\n"));
        if (end == std::string_view::npos) {
            break;
        }
        body.remove_prefix(end + 4);
    }
    return blocks;
}

void expect_clean_lines(const std::string& message) {
    std::size_t line_start = 0;
    for (std::size_t index = 0; index < message.size(); ++index) {
        if (message[index] == '\r') {
            ASSERT_TRUE(index + 1 < message.size() && message[index + 1] == '\n')
                << "bare CR at " << index;
        } else if (message[index] == '\n') {
            ASSERT_TRUE(index > 0 && message[index - 1] == '\r') << "bare LF at " << index;
            EXPECT_LE(index - 1 - line_start, 998u) << "long line at " << line_start;
            line_start = index + 1;
        }
    }
    EXPECT_TRUE(message.ends_with("\r\n"));
}

// ---- structure ------------------------------------------------------------------------------

TEST(Dsn, HasTheStructureOfAMultipartReport) {
    const std::string message = build_dsn(base_input());
    expect_clean_lines(message);
    const Report report = parse_report(message);
    const Entity& top = report.top;
    EXPECT_EQ(top.field("From"), "Mail Delivery System <MAILER-DAEMON@relay.test>");
    EXPECT_EQ(top.field("To"), "<alice@example.com>");
    EXPECT_EQ(top.field("Subject"), "Undelivered Mail Returned to Sender");
    EXPECT_EQ(top.field("Date"), "Thu, 13 Feb 2025 10:00:00 +0000");
    EXPECT_EQ(top.field("Message-ID"), "<0194F2A1B2C3D4E5.1739440800123.dsn@relay.test>");
    EXPECT_EQ(top.field("MIME-Version"), "1.0");
    EXPECT_EQ(top.field("Auto-Submitted"), "auto-replied");
    EXPECT_EQ(top.field("Content-Type")
                  .rfind("multipart/report; report-type=delivery-status; boundary=\"", 0),
              0u);
    EXPECT_EQ(top.field("Content-Transfer-Encoding"), "");  // all ASCII
    for (const std::string_view name : {"From", "To", "Subject", "Date", "Message-ID"}) {
        EXPECT_EQ(top.count(std::string(name)), 1u) << name;
    }
    EXPECT_FALSE(report.boundary.empty());
    EXPECT_LE(report.boundary.size(), 70u);  // RFC 2046 §5.1.1

    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[0].field("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(report.parts[1].field("Content-Type"), "message/delivery-status");
    EXPECT_EQ(report.parts[2].field("Content-Type"), "text/rfc822-headers");

    const std::string& text = report.parts[0].body;
    EXPECT_NE(text.find("0194F2A1B2C3D4E5"), std::string::npos);
    EXPECT_NE(text.find("<bob@example.org>: host mx.example.org said:"), std::string::npos);
    EXPECT_NE(text.find("Recipient address rejected"), std::string::npos);

    const std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[0].field("Reporting-MTA"), "dns; relay.test");
    EXPECT_EQ(blocks[0].field("Arrival-Date"), "Sat, 08 Feb 2025 10:40:00 +0000");
    EXPECT_EQ(blocks[0].field("X-Queue-ID"), "0194F2A1B2C3D4E5");
    EXPECT_EQ(blocks[1].field("Final-Recipient"), "rfc822; bob@example.org");
    EXPECT_EQ(blocks[1].field("Action"), "failed");
    EXPECT_EQ(blocks[1].field("Status"), "5.1.1");
    EXPECT_EQ(blocks[1].field("Remote-MTA"), "dns; mx.example.org");
    EXPECT_EQ(blocks[1].field("Diagnostic-Code"),
              "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown");
    EXPECT_EQ(blocks[1].field("Last-Attempt-Date"), "Thu, 13 Feb 2025 10:00:00 +0000");

    EXPECT_EQ(report.parts[2].body, original_headers);
}

TEST(Dsn, NamesTheResourceThatSentTheMessage) {
    DsnInput input = base_input();
    input.resource = "acme/newsletter";
    Report report = parse_report(build_dsn(input));
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_NE(report.parts[0].body.find("Sent by: acme/newsletter\r\n"), std::string::npos);
    std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_FALSE(blocks.empty());
    EXPECT_EQ(blocks[0].field("X-Relay-Resource"), "acme/newsletter");
    // Mail accepted without AUTH has no resource: neither line appears.
    input.resource.clear();
    report = parse_report(build_dsn(input));
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[0].body.find("Sent by:"), std::string::npos);
    blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_FALSE(blocks.empty());
    EXPECT_EQ(blocks[0].count("X-Relay-Resource"), 0u);
}

TEST(Dsn, DatesAreRfc5322InUtc) {
    DsnInput input = base_input();
    input.now_unix_ms = 1709164800000;  // a leap day
    input.arrival_unix_ms = 0;          // unknown: no Arrival-Date
    const Report report = parse_report(build_dsn(input));
    EXPECT_EQ(report.top.field("Date"), "Thu, 29 Feb 2024 00:00:00 +0000");
    ASSERT_EQ(report.parts.size(), 3u);
    const std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_FALSE(blocks.empty());
    EXPECT_EQ(blocks[0].field("Arrival-Date"), "");
}

TEST(Dsn, SeveralRecipientsRemoteAndLocal) {
    DsnInput input = base_input();
    DsnRecipient carol;
    carol.address = "carol@example.net";
    carol.status = "4.4.7";
    carol.remote_mta = "";
    carol.diagnostic = "delivery time expired after 5 days: connection refused by all MX hosts";
    carol.remote = false;
    DsnRecipient dave;
    dave.address = "dave@example.org";
    dave.status = "5.2.2";
    dave.remote_mta = "mx.example.org";
    dave.diagnostic = "552 5.2.2 mailbox full";
    input.recipients.push_back(carol);
    input.recipients.push_back(dave);
    const std::string message = build_dsn(input);
    expect_clean_lines(message);
    const Report report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
    const std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_EQ(blocks.size(), 4u);
    EXPECT_EQ(blocks[1].field("Final-Recipient"), "rfc822; bob@example.org");
    EXPECT_EQ(blocks[2].field("Final-Recipient"), "rfc822; carol@example.net");
    EXPECT_EQ(blocks[2].field("Status"), "4.4.7");
    EXPECT_EQ(blocks[2].field("Action"), "failed");
    // Relay's own reason: no Diagnostic-Code, no Remote-MTA; the reason is in the text part.
    EXPECT_EQ(blocks[2].count("Diagnostic-Code"), 0u);
    EXPECT_EQ(blocks[2].count("Remote-MTA"), 0u);
    EXPECT_EQ(blocks[3].field("Final-Recipient"), "rfc822; dave@example.org");
    EXPECT_EQ(blocks[3].field("Diagnostic-Code"), "smtp; 552 5.2.2 mailbox full");
    const std::string& text = report.parts[0].body;
    EXPECT_NE(text.find("<carol@example.net>: delivery failed:"), std::string::npos);
    EXPECT_NE(text.find("connection refused by all MX hosts"), std::string::npos);
    EXPECT_NE(text.find("<dave@example.org>: host mx.example.org said:"), std::string::npos);
    for (const Entity& block : blocks) {
        for (const auto& [name, value] : block.fields) {
            EXPECT_EQ(value.find('\r'), std::string::npos);
        }
    }
}

TEST(Dsn, StatusOutsideFailureClassesBecomesGeneric) {
    for (const std::string_view status : {"2.0.0", "bogus", "5.1", "5.1.1.1", "", "5.1234.1"}) {
        DsnInput input = base_input();
        input.recipients[0].status = std::string(status);
        const Report report = parse_report(build_dsn(input));
        ASSERT_EQ(report.parts.size(), 3u);
        const std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
        ASSERT_EQ(blocks.size(), 2u);
        EXPECT_EQ(blocks[1].field("Status"), "5.0.0") << status;
    }
}

TEST(Dsn, Utf8Variant) {
    DsnInput input = base_input();
    input.recipients[0].address = "j\xc3\xb6rg@example.org";
    input.recipients[0].diagnostic = "550 5.1.1 unknown user j\xc3\xb6rg";  // kept ASCII
    const std::string message = build_dsn(input);  // utf8 chosen from the address
    expect_clean_lines(message);
    const Report report = parse_report(message);
    EXPECT_EQ(report.top.field("Content-Transfer-Encoding"), "8bit");
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[1].field("Content-Type"), "message/global-delivery-status");
    EXPECT_EQ(report.parts[1].field("Content-Transfer-Encoding"), "8bit");
    EXPECT_EQ(report.parts[2].field("Content-Type"), "message/global-headers");
    const std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1].field("Final-Recipient"), "utf-8; j\xc3\xb6rg@example.org");
    EXPECT_EQ(blocks[1].field("Diagnostic-Code"), "smtp; 550 5.1.1 unknown user j??rg");
    EXPECT_NE(report.parts[0].body.find("<j\xc3\xb6rg@example.org>"), std::string::npos);

    // Forced by the flag with ASCII addresses: global types, rfc822 address type.
    DsnInput forced = base_input();
    forced.utf8 = true;
    const Report forced_report = parse_report(build_dsn(forced));
    ASSERT_EQ(forced_report.parts.size(), 3u);
    EXPECT_EQ(forced_report.parts[1].field("Content-Type"), "message/global-delivery-status");
    EXPECT_EQ(parse_status_blocks(forced_report.parts[1].body)[1].field("Final-Recipient"),
              "rfc822; bob@example.org");
}

TEST(Dsn, DiagnosticWithLineBreaksAndControlsIsSanitized) {
    DsnInput input = base_input();
    // The NUL is meant: the literal stops there, and the string below adds one explicitly.
    input.recipients[0].diagnostic =
        // NOLINTNEXTLINE(bugprone-string-literal-with-embedded-nul)
        "550-5.1.1 first line\r\n550 5.1.1 second\rline\nthird\x01\x07\x1b[31m\x7f end\x00x";
    input.recipients[0].diagnostic += std::string("\0tail", 5);
    input.recipients[0].remote_mta = "mx.example.org\r\nX-Injected: yes";
    const std::string message = build_dsn(input);
    expect_clean_lines(message);
    EXPECT_EQ(message.find("X-Injected:"), std::string::npos);
    EXPECT_EQ(message.find('\x1b'), std::string::npos);
    EXPECT_EQ(message.find('\x07'), std::string::npos);
    EXPECT_EQ(message.find('\0'), std::string::npos);
    const Report report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
    const std::vector<Entity> blocks = parse_status_blocks(report.parts[1].body);
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(blocks[1].field("Diagnostic-Code"),
              "smtp; 550-5.1.1 first line 550 5.1.1 second line third[31m endtail");
    EXPECT_EQ(blocks[1].field("Remote-MTA"), "dns; mx.example.orgX-Injectedyes");
    EXPECT_EQ(blocks[1].fields.size(), 6u);  // nothing injected
}

TEST(Dsn, LongValuesAreFoldedAndBounded) {
    DsnInput input = base_input();
    std::string diagnostic = "550 5.7.1";
    for (int word = 0; word < 300; ++word) {
        diagnostic += " word" + std::to_string(word);
    }
    diagnostic += " " + std::string(2500, 'x');  // one run far longer than a line
    input.recipients[0].diagnostic = diagnostic;
    const std::string long_header = "X-Long: " + std::string(3000, 'h') + "\r\n";
    const std::string headers = std::string(original_headers) + long_header;
    input.original_headers = headers;
    const std::string message = build_dsn(input);
    expect_clean_lines(message);
    const Report report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
    // Folded where the words allow: the first lines of the field stay near 78 octets.
    const std::string& status = report.parts[1].body;
    const std::size_t field = status.find("Diagnostic-Code:");
    ASSERT_NE(field, std::string::npos);
    EXPECT_LE(status.find("\r\n", field) - field, 78u);
    const std::vector<Entity> blocks = parse_status_blocks(status);
    ASSERT_EQ(blocks.size(), 2u);
    const std::string unfolded = blocks[1].field("Diagnostic-Code");
    EXPECT_EQ(unfolded.rfind("smtp; 550 5.7.1 word0 word1", 0), 0u);
    EXPECT_NE(unfolded.find("word299"), std::string::npos);
    EXPECT_LE(unfolded.size(), dsn_diagnostic_bytes_max + 16);
    // The long original header is cut into continuation lines, nothing lost.
    const Entity original = parse_entity(report.parts[2].body + "\r\n");
    std::string joined = original.field("X-Long");
    joined.erase(std::remove(joined.begin(), joined.end(), ' '), joined.end());
    EXPECT_EQ(joined, std::string(3000, 'h'));
}

TEST(Dsn, BoundaryNeverOccursInTheContent) {
    const Report first = parse_report(build_dsn(base_input()));
    ASSERT_FALSE(first.boundary.empty());
    // Headers that quote the boundary the builder would choose, and its next candidates.
    std::string headers(original_headers);
    headers += "X-Quote: --" + first.boundary + "\r\n";
    headers += "X-Quote: --" + first.boundary + ".00000001\r\n";
    headers += "X-Quote: " + first.boundary + ".00000002--\r\n";
    DsnInput input = base_input();
    input.original_headers = headers;
    const std::string message = build_dsn(input);
    expect_clean_lines(message);
    const Report report = parse_report(message);
    EXPECT_NE(report.boundary, first.boundary);
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].body, headers);
    for (const Entity& part : report.parts) {
        EXPECT_EQ(part.body.find(report.boundary), std::string::npos);
    }
}

TEST(Dsn, OriginalHeadersAreNormalized) {
    DsnInput input = base_input();
    const std::string headers =
        std::string("Subject: bare lf\nFrom: a@example.com\rTo: b@example.org\r\n") +
        std::string("X-Nul: a\0b\r\n", 12) + "\r\nbody that must not appear\r\n";
    input.original_headers = headers;
    const std::string message = build_dsn(input);
    expect_clean_lines(message);
    EXPECT_EQ(message.find("body that must not appear"), std::string::npos);
    const Report report = parse_report(message);
    ASSERT_EQ(report.parts.size(), 3u);
    EXPECT_EQ(report.parts[2].body,
              "Subject: bare lf\r\nFrom: a@example.com\r\nTo: b@example.org\r\nX-Nul: ab\r\n");
}

// ---- an independent reader --------------------------------------------------------------------

// Python's `email` package reads the DSN: a multipart/report whose delivery-status part parses
// into per-message and per-recipient blocks, without defects.
TEST(Dsn, PythonEmailPackageReadsIt) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        GTEST_SKIP() << "/usr/bin/python3 is missing";
    }
    DsnInput input = base_input();
    DsnRecipient carol;
    carol.address = "carol@example.net";
    carol.status = "4.4.7";
    carol.diagnostic = "delivery time expired";
    carol.remote = false;
    input.recipients.push_back(carol);
    const std::string message = build_dsn(input);

    char directory_template[] = "/tmp/relay-dsn-test-XXXXXX";
    const char* directory = mkdtemp(directory_template);
    ASSERT_NE(directory, nullptr);
    const std::string output_path = std::string(directory) + "/out.txt";
    const std::string script =
        "import sys, email, email.policy\n"
        "msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)\n"
        "print(msg.get_content_type(), msg.get_param(\"report-type\"), len(msg.defects))\n"
        "parts = msg.get_payload()\n"
        "print(\" \".join(p.get_content_type() for p in parts))\n"
        "print(sum(len(p.defects) for p in parts))\n"
        "blocks = parts[1].get_payload()\n"
        "print(len(blocks), blocks[0][\"Reporting-MTA\"])\n"
        "for b in blocks[1:]:\n"
        "    print(b[\"Final-Recipient\"], \"|\", b[\"Action\"], \"|\", b[\"Status\"], \"|\",\n"
        "          b.get(\"Diagnostic-Code\"))\n"
        "print(email.message_from_string(parts[2].get_payload())[\"Subject\"])\n"
        "print(msg[\"Subject\"], \"|\", msg[\"To\"])\n";
    const std::string command = "/usr/bin/python3 -c '" + script + "' > " + output_path + " 2>&1";
    FILE* pipe = popen(command.c_str(), "w");
    ASSERT_NE(pipe, nullptr);
    ASSERT_EQ(std::fwrite(message.data(), 1, message.size(), pipe), message.size());
    const int status = pclose(pipe);
    std::ifstream file(output_path);
    std::stringstream output;
    output << file.rdbuf();
    std::remove(output_path.c_str());
    rmdir(directory);
    ASSERT_EQ(status, 0) << output.str();
    EXPECT_EQ(output.str(),
              "multipart/report delivery-status 0\n"
              "text/plain message/delivery-status text/rfc822-headers\n"
              "0\n"
              "3 dns; relay.test\n"
              "rfc822; bob@example.org | failed | 5.1.1 | smtp; 550 5.1.1 <bob@example.org>: "
              "Recipient address rejected: User unknown\n"
              "rfc822; carol@example.net | failed | 4.4.7 | None\n"
              "Quarterly report\n"
              "Undelivered Mail Returned to Sender | alice@example.com\n");
}

}  // namespace
}  // namespace relay::delivery
