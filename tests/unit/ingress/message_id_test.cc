// message_id_test.cc -- the Message-ID relayd adds: made only for a header block without one,
// shaped <QUEUEID.RANDOM@HOSTNAME>, different for each message.
#include "message_id.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace relay::ingress::internal {
namespace {

// A header block whose fields are indexed one per line, as the message pass indexes them.
message::HeaderBlock block_of(std::initializer_list<std::string> lines) {
    message::HeaderBlock block;
    for (const std::string& line : lines) {
        message::HeaderField field;
        field.offset = static_cast<std::uint32_t>(block.bytes.size());
        std::size_t colon = line.find(':');
        field.name_bytes = colon == std::string::npos ? 0 : static_cast<std::uint32_t>(colon);
        field.field_bytes = static_cast<std::uint32_t>(line.size() + 2);
        block.bytes += line + "\r\n";
        block.fields.push_back(field);
    }
    block.bytes += "\r\n";
    block.complete = true;
    return block;
}

TEST(MessageId, FoundInAnyCaseAndOnlyAsAFieldName) {
    EXPECT_TRUE(has_message_id(block_of({"From: a@b.example", "Message-ID: <x@y>"})));
    EXPECT_TRUE(has_message_id(block_of({"message-id: <x@y>"})));
    EXPECT_TRUE(has_message_id(block_of({"MESSAGE-ID: <x@y>"})));
    EXPECT_FALSE(has_message_id(block_of({"From: a@b.example", "X-Message-ID: <x@y>"})));
    EXPECT_FALSE(has_message_id(block_of({"Subject: Message-ID: <x@y>"})));
    EXPECT_FALSE(has_message_id(block_of({"In-Reply-To: <x@y>", "Message-IDs: <x@y>"})));
    EXPECT_FALSE(has_message_id(message::HeaderBlock{}));
}

TEST(MessageId, NamesTheQueueIdAndHostAndDiffersEachTime) {
    std::set<std::string> made;
    for (int count = 0; count < 1000; ++count) {
        std::string id = make_message_id(0x00000000000000a1ULL, "relay.example");
        ASSERT_TRUE(
            std::regex_match(id, std::regex("<00000000000000A1\\.[0-9a-f]{16}@relay\\.example>")))
            << id;
        made.insert(id);
    }
    EXPECT_EQ(made.size(), 1000u);
    EXPECT_EQ(message_id_field("<a@b>"), "Message-ID: <a@b>\r\n");
}

}  // namespace
}  // namespace relay::ingress::internal
