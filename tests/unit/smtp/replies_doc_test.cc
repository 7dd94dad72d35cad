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
        // 421 replies carry the host name between the codes and the text.
        std::string text = reply.code == 421 ? std::string(reply.text) : written(reply);
        EXPECT_NE(docs.find(text), std::string::npos) << written(reply);
        if (reply.code == 421) {
            EXPECT_NE(docs.find("421 " + std::string(reply.enhanced) + " <host> " +
                                std::string(reply.text)),
                      std::string::npos)
                << written(reply);
        }
    }
}

}  // namespace
}  // namespace relay::smtp
