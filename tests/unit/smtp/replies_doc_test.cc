// Every fixed SMTP reply in the code is documented in docs/smtp-replies.md.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "relay/smtp/command.h"
#include "relay/smtp/server_replies.h"

namespace relay::smtp {
namespace {

std::string documentation() {
    std::ifstream file(RELAY_SOURCE_DIR "/docs/smtp-replies.md");
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::string written(const SyntaxReply& reply) {
    std::string line = std::to_string(reply.code) + " ";
    if (!reply.enhanced.empty()) {
        line += std::string(reply.enhanced) + " ";
    }
    return line + std::string(reply.text);
}

TEST(RepliesDocumentation, EveryParserReplyIsListed) {
    std::string docs = documentation();
    ASSERT_FALSE(docs.empty()) << "docs/smtp-replies.md is missing";
    for (const SyntaxReply& reply : parser_replies::all) {
        EXPECT_NE(docs.find(written(reply)), std::string::npos) << written(reply);
    }
}

TEST(RepliesDocumentation, EveryServerReplyIsListed) {
    std::string docs = documentation();
    for (const SyntaxReply& reply : server_replies::all) {
        // Replies that close the session (421, and the 554 greeting) carry the host name
        // between the codes and the text.
        bool closes = reply.code == 421 ||
                      std::string_view(reply.text) == server_replies::client_not_allowed.text;
        std::string text = closes ? std::string(reply.text) : written(reply);
        EXPECT_NE(docs.find(text), std::string::npos) << written(reply);
        if (closes) {
            EXPECT_NE(docs.find(std::to_string(reply.code) + " " + std::string(reply.enhanced) +
                                " <host> " + std::string(reply.text)),
                      std::string::npos)
                << written(reply);
        }
    }
}

}  // namespace
}  // namespace relay::smtp
