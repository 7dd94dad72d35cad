// command_test.cc -- unit tests of the SMTP command parser: verbs and their arguments, ESMTP
// parameters, and the documented reply for every line it refuses. Address grammar and UTF-8
// are in path_test.cc.
#include "relay/smtp/command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "test_util.h"

namespace relay::smtp {
namespace {

using test::domain_of_length;

namespace replies = parser_replies;

std::string describe(const Command& command) {
    static constexpr const char* names[] = {"Hello", "Mail",     "Rcpt", "Data",    "Bdat",
                                            "Rset",  "Noop",     "Quit", "Vrfy",    "Expn",
                                            "Help",  "StartTls", "Auth", "Unknown", "Invalid"};
    std::string out = names[command.index()];
    if (const auto* invalid = std::get_if<Invalid>(&command)) {
        out += " " + std::to_string(invalid->reply.code) + " " + std::string(invalid->reply.text);
    }
    return out;
}

template <class T>
T parsed(std::string_view line) {
    const Command command = parse_command(line);
    if (const auto* value = std::get_if<T>(&command)) {
        return *value;
    }
    ADD_FAILURE() << "\"" << line << "\" parsed as " << describe(command);
    return T{};
}

SyntaxReply refused(std::string_view line) {
    const Command command = parse_command(line);
    if (const auto* invalid = std::get_if<Invalid>(&command)) {
        return invalid->reply;
    }
    ADD_FAILURE() << "\"" << line << "\" was accepted as " << describe(command);
    return SyntaxReply{0, {}, {}};
}

// --- verbs -----------------------------------------------------------------------------------

TEST(CommandTest, EhloTakesTheClientName) {
    const Hello hello = parsed<Hello>("EHLO client.example.net");
    EXPECT_EQ(hello.domain, "client.example.net");
    EXPECT_TRUE(hello.extended);
    EXPECT_EQ(parsed<Hello>("ehlo [192.0.2.1]").domain, "[192.0.2.1]");
    EXPECT_EQ(parsed<Hello>("EhLo\tmx_1.local").domain, "mx_1.local");
    EXPECT_EQ(parsed<Hello>("EHLO 192.0.2.7").domain, "192.0.2.7");
    EXPECT_EQ(parsed<Hello>("EHLO b\xc3\xbc\x63her.example").domain, "b\xc3\xbc\x63her.example");
}

TEST(CommandTest, EhloIgnoresWordsAfterTheName) {
    EXPECT_EQ(parsed<Hello>("EHLO mail.example.org (Postfix)").domain, "mail.example.org");
    EXPECT_EQ(parsed<Hello>("  EHLO   host.example   ").domain, "host.example");
}

TEST(CommandTest, EhloWithoutNameIsRefused) {
    EXPECT_EQ(refused("EHLO"), (SyntaxReply{501, "5.5.4", "Syntax: EHLO hostname"}));
    EXPECT_EQ(refused("EHLO    "), replies::ehlo_syntax);
    EXPECT_EQ(refused("EHLO a\x01"
                      "b"),
              replies::ehlo_syntax);
    EXPECT_EQ(refused("EHLO \x7f"), replies::ehlo_syntax);
    EXPECT_EQ(refused("EHLO host\xff"), replies::ehlo_syntax);
    EXPECT_EQ(refused("EHLO \xc0\xae"), replies::ehlo_syntax);
}

TEST(CommandTest, HeloIsNotExtended) {
    const Hello hello = parsed<Hello>("HELO relay.example");
    EXPECT_EQ(hello.domain, "relay.example");
    EXPECT_FALSE(hello.extended);
    EXPECT_EQ(refused("HELO"), (SyntaxReply{501, "5.5.4", "Syntax: HELO hostname"}));
    EXPECT_EQ(refused("helo "), replies::helo_syntax);
}

TEST(CommandTest, DataTakesNoArguments) {
    parsed<Data>("DATA");
    parsed<Data>("data");
    parsed<Data>("DATA  \t ");
    EXPECT_EQ(refused("DATA now"), (SyntaxReply{501, "5.5.4", "Syntax: DATA (no arguments)"}));
}

TEST(CommandTest, BdatTakesSizeAndLast) {
    Bdat bdat = parsed<Bdat>("BDAT 1000");
    EXPECT_EQ(bdat.size, 1000U);
    EXPECT_FALSE(bdat.last);
    bdat = parsed<Bdat>("BDAT 0 LAST");
    EXPECT_EQ(bdat.size, 0U);
    EXPECT_TRUE(bdat.last);
    bdat = parsed<Bdat>("bdat 00042 last");
    EXPECT_EQ(bdat.size, 42U);
    EXPECT_TRUE(bdat.last);
    EXPECT_EQ(parsed<Bdat>("BDAT 18446744073709551615").size, 18446744073709551615ULL);
}

TEST(CommandTest, BdatRefusesAnythingElse) {
    for (const char* line :
         {"BDAT", "BDAT LAST", "BDAT x", "BDAT -1", "BDAT +1", "BDAT 1e3", "BDAT 0x10",
          "BDAT 18446744073709551616", "BDAT 99999999999999999999999", "BDAT 1 FIRST",
          "BDAT 1 LAST extra", "BDAT 1 2", "BDAT 1,000"}) {
        EXPECT_EQ(refused(line), (SyntaxReply{501, "5.5.4", "Syntax: BDAT size [LAST]"})) << line;
    }
}

TEST(CommandTest, RsetQuitStartTlsTakeNoArguments) {
    parsed<Rset>("RSET");
    parsed<Quit>("quit");
    parsed<StartTls>("STARTTLS");
    parsed<StartTls>("StartTLS ");
    EXPECT_EQ(refused("RSET all"), replies::rset_syntax);
    EXPECT_EQ(refused("QUIT bye"), replies::quit_syntax);
    EXPECT_EQ(refused("STARTTLS now"), replies::starttls_syntax);
    EXPECT_EQ(replies::starttls_syntax.code, 501);
}

TEST(CommandTest, NoopAndHelpTakeAnything) {
    parsed<Noop>("NOOP");
    parsed<Noop>("noop are you there? \x01\xff");
    EXPECT_EQ(parsed<Help>("HELP").topic, "");
    EXPECT_EQ(parsed<Help>("HELP  mail from ").topic, "mail from");
}

TEST(CommandTest, VrfyAndExpnNeedAnArgument) {
    EXPECT_EQ(parsed<Vrfy>("VRFY John Smith").argument, "John Smith");
    EXPECT_EQ(parsed<Vrfy>("vrfy   <user@example.com>  ").argument, "<user@example.com>");
    EXPECT_EQ(parsed<Expn>("EXPN staff").argument, "staff");
    EXPECT_EQ(refused("VRFY"), (SyntaxReply{501, "5.5.4", "Syntax: VRFY address"}));
    EXPECT_EQ(refused("EXPN  "), (SyntaxReply{501, "5.5.4", "Syntax: EXPN mailing-list"}));
}

TEST(CommandTest, AuthTakesMechanismAndInitialResponse) {
    Auth auth = parsed<Auth>("AUTH LOGIN");
    EXPECT_EQ(auth.mechanism, "LOGIN");
    EXPECT_EQ(auth.initial_response, "");
    auth = parsed<Auth>("AUTH PLAIN AGRlbW8vbWFpbgBzZWNyZXQ=");
    EXPECT_EQ(auth.mechanism, "PLAIN");
    EXPECT_EQ(auth.initial_response, "AGRlbW8vbWFpbgBzZWNyZXQ=");
    auth = parsed<Auth>("auth plain =");
    EXPECT_EQ(auth.mechanism, "plain");
    EXPECT_EQ(auth.initial_response, "=");
    EXPECT_EQ(parsed<Auth>("AUTH SCRAM-SHA-256").mechanism, "SCRAM-SHA-256");
    EXPECT_EQ(parsed<Auth>("AUTH X_MECH dGVzdA==").initial_response, "dGVzdA==");
    EXPECT_EQ(parsed<Auth>("AUTH ABCDEFGHIJKLMNOPQRST").mechanism, "ABCDEFGHIJKLMNOPQRST");
}

TEST(CommandTest, AuthRefusesBadMechanismsAndExtraWords) {
    const SyntaxReply usage{501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"};
    EXPECT_EQ(refused("AUTH"), usage);
    EXPECT_EQ(refused("AUTH PL@IN"), usage);
    EXPECT_EQ(refused("AUTH PLAIN.X"), usage);
    EXPECT_EQ(refused("AUTH ABCDEFGHIJKLMNOPQRSTU"), usage);  // 21 characters
    EXPECT_EQ(refused("AUTH PLAIN dGVzdA== more"), usage);
}

TEST(CommandTest, AuthRefusesAnInitialResponseThatIsNotBase64) {
    const SyntaxReply reply{501, "5.5.2", "Cannot Base64-decode initial response"};
    for (const char* line : {"AUTH PLAIN abc", "AUTH PLAIN ab=c",
                             "AUTH PLAIN a===", "AUTH PLAIN ====", "AUTH PLAIN dGVz*A==",
                             "AUTH PLAIN ==", "AUTH PLAIN dGVzdA==dGVz", "AUTH PLAIN dGVzdA-_"}) {
        EXPECT_EQ(refused(line), reply) << line;
    }
    EXPECT_EQ(parsed<Auth>("AUTH PLAIN ab==").initial_response, "ab==");
    EXPECT_EQ(parsed<Auth>("AUTH PLAIN abc=").initial_response, "abc=");
}

TEST(CommandTest, UnknownVerbsAreNamed) {
    EXPECT_EQ(parsed<Unknown>("TURN").verb, "TURN");
    EXPECT_EQ(parsed<Unknown>("SEND FROM:<a@example.com>").verb, "SEND");
    EXPECT_EQ(parsed<Unknown>("MAILFROM:<a@example.com>").verb, "MAILFROM:<a@example.com>");
    EXPECT_EQ(parsed<Unknown>("GET / HTTP/1.1").verb, "GET");
    EXPECT_EQ(parsed<Unknown>("EHL host").verb, "EHL");
    EXPECT_EQ(parsed<Unknown>("STARTTLSX").verb, "STARTTLSX");
    EXPECT_EQ(parsed<Unknown>("DAT\xc1").verb, "DAT\xc1");
    EXPECT_EQ(parsed<Unknown>("").verb, "");
    EXPECT_EQ(parsed<Unknown>("   \t").verb, "");
}

TEST(CommandTest, VerbsWithNonLetterLookalikesAreUnknown) {
    // Folding with 0x20 must not make '@' (0x40) match '`' or digits match punctuation.
    parsed<Unknown>("M@IL FROM:<a@example.com>");
    parsed<Unknown>("DAT\x01");
    parsed<Unknown>("QUI\x14");
    parsed<Unknown>("STARTTL\x13");
}

// --- MAIL FROM -------------------------------------------------------------------------------

TEST(CommandTest, MailTakesTheReversePath) {
    const Mail mail = parsed<Mail>("MAIL FROM:<user@example.com>");
    EXPECT_EQ(mail.reverse_path.mailbox, "user@example.com");
    EXPECT_EQ(mail.reverse_path.local_part, "user");
    EXPECT_EQ(mail.reverse_path.domain, "example.com");
    EXPECT_FALSE(mail.reverse_path.has_utf8);
    EXPECT_FALSE(mail.parameters.size.has_value());
    EXPECT_EQ(mail.parameters.body, BodyType::unspecified);
    EXPECT_FALSE(mail.parameters.smtputf8);
    EXPECT_EQ(mail.parameters.auth, "");
}

TEST(CommandTest, MailToleratesCommonDeviations) {
    for (const char* line :
         {"mail from:<user@example.com>", "MAIL FROM: <user@example.com>",
          "MAIL FROM:   <user@example.com>   ", "MAIL FROM:user@example.com",
          "MAIL FROM: user@example.com ", "Mail From:<user@example.com>",
          "  MAIL  FROM:<user@example.com>", "MAIL\tFROM:\t<user@example.com>"}) {
        EXPECT_EQ(parsed<Mail>(line).reverse_path.mailbox, "user@example.com") << line;
    }
}

TEST(CommandTest, MailAcceptsTheNullReversePath) {
    EXPECT_TRUE(parsed<Mail>("MAIL FROM:<>").reverse_path.is_null());
    EXPECT_TRUE(parsed<Mail>("MAIL FROM: <> ").reverse_path.is_null());
    const Mail mail = parsed<Mail>("MAIL FROM:<> SIZE=512");
    EXPECT_TRUE(mail.reverse_path.is_null());
    EXPECT_EQ(mail.parameters.size, 512U);
}

TEST(CommandTest, MailWithoutFromIsRefusedWithAHint) {
    const SyntaxReply usage{501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"};
    for (const char* line :
         {"MAIL", "MAIL FROM:", "MAIL FROM:   ", "MAIL TO:<a@example.com>",
          "MAIL FROM <a@example.com>", "MAIL FROM :<a@example.com>", "MAIL <a@example.com>",
          "MAIL FROM:<a@example.com>SIZE=1", "MAIL FROM:a@example.com SIZE=1",
          "MAIL FROM:<<a@example.com>>", "MAIL FRO:<a@example.com>"}) {
        EXPECT_EQ(refused(line), usage) << line;
    }
}

TEST(CommandTest, MailWithABadPathIsRefusedAsBadSender) {
    const SyntaxReply reply{501, "5.1.7", "Bad sender address syntax"};
    for (const char* line :
         {"MAIL FROM:<user@example.com", "MAIL FROM:<Postmaster>", "MAIL FROM:<user>",
          "MAIL FROM:<user@>", "MAIL FROM:<@example.com>", "MAIL FROM:<a b@example.com>",
          "MAIL FROM:<\"open@example.com>", "MAIL FROM:user@example.com>"}) {
        EXPECT_EQ(refused(line), reply) << line;
    }
}

TEST(CommandTest, MailSizeParameter) {
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> SIZE=10240").parameters.size, 10240U);
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> size=0").parameters.size, 0U);
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> SIZE=18446744073709551615").parameters.size,
              18446744073709551615ULL);
    const SyntaxReply bad{501, "5.5.4", "Bad SIZE value"};
    for (const char* line :
         {"MAIL FROM:<a@example.com> SIZE=18446744073709551616",
          "MAIL FROM:<a@example.com> SIZE=99999999999999999999999999",
          "MAIL FROM:<a@example.com> SIZE=abc", "MAIL FROM:<a@example.com> SIZE=-1",
          "MAIL FROM:<a@example.com> SIZE=1.5", "MAIL FROM:<a@example.com> SIZE",
          "MAIL FROM:<a@example.com> SIZE=10k"}) {
        EXPECT_EQ(refused(line), bad) << line;
    }
}

TEST(CommandTest, MailBodyParameter) {
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> BODY=7BIT").parameters.body,
              BodyType::seven_bit);
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> BODY=8BITMIME").parameters.body,
              BodyType::eight_bit_mime);
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> body=8bitmime").parameters.body,
              BodyType::eight_bit_mime);
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> BODY=BinaryMIME").parameters.body,
              BodyType::binary_mime);
    const SyntaxReply bad{501, "5.5.4", "Bad BODY value (7BIT, 8BITMIME or BINARYMIME)"};
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> BODY=8BIT"), bad);
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> BODY=7BITS"), bad);
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> BODY"), bad);
}

TEST(CommandTest, MailSmtpUtf8Parameter) {
    EXPECT_TRUE(parsed<Mail>("MAIL FROM:<a@example.com> SMTPUTF8").parameters.smtputf8);
    EXPECT_TRUE(parsed<Mail>("MAIL FROM:<a@example.com> smtputf8").parameters.smtputf8);
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> SMTPUTF8=yes"),
              (SyntaxReply{501, "5.5.4", "SMTPUTF8 takes no value"}));
}

TEST(CommandTest, MailAuthParameter) {
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> AUTH=<>").parameters.auth, "<>");
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> AUTH=user+40example.com").parameters.auth,
              "user+40example.com");
    EXPECT_EQ(parsed<Mail>("MAIL FROM:<a@example.com> auth=e+2bf").parameters.auth, "e+2bf");
    const SyntaxReply bad{501, "5.5.4", "Bad AUTH value"};
    for (const char* line :
         {"MAIL FROM:<a@example.com> AUTH", "MAIL FROM:<a@example.com> AUTH=a+4",
          "MAIL FROM:<a@example.com> AUTH=a+", "MAIL FROM:<a@example.com> AUTH=a+zz",
          "MAIL FROM:<a@example.com> AUTH=+4", "MAIL FROM:<a@example.com> AUTH=\xc3\xa9"}) {
        EXPECT_EQ(refused(line), bad) << line;
    }
}

TEST(CommandTest, MailCombinesParameters) {
    const Mail mail =
        parsed<Mail>("MAIL FROM:<user@example.com>  SIZE=10240 BODY=8BITMIME\tSMTPUTF8 AUTH=<>  ");
    EXPECT_EQ(mail.reverse_path.mailbox, "user@example.com");
    EXPECT_EQ(mail.parameters.size, 10240U);
    EXPECT_EQ(mail.parameters.body, BodyType::eight_bit_mime);
    EXPECT_TRUE(mail.parameters.smtputf8);
    EXPECT_EQ(mail.parameters.auth, "<>");
}

TEST(CommandTest, MailRefusesUnknownParameters) {
    const SyntaxReply unsupported{555, "5.5.4", "Unsupported parameter"};
    for (const char* line :
         {"MAIL FROM:<a@example.com> RET=FULL", "MAIL FROM:<a@example.com> ENVID=QQ314159",
          "MAIL FROM:<a@example.com> XFOO", "MAIL FROM:<a@example.com> SIZE=1 X-Y=\xc3\xa9",
          "MAIL FROM:<a@example.com> MT-PRIORITY=3", "MAIL FROM:<a@example.com> SIZES=1",
          "MAIL FROM:<a@example.com> XFOO=1 SIZE=abc", "MAIL FROM:<a@example.com> AUTH=x y"}) {
        EXPECT_EQ(refused(line), unsupported) << line;
    }
}

TEST(CommandTest, MailRefusesMalformedAndRepeatedParameters) {
    const SyntaxReply syntax{501, "5.5.4", "Bad parameter syntax"};
    for (const char* line :
         {"MAIL FROM:<a@example.com> SIZE=", "MAIL FROM:<a@example.com> -SIZE=1",
          "MAIL FROM:<a@example.com> =1", "MAIL FROM:<a@example.com> B@DY=7BIT",
          "MAIL FROM:<a@example.com> SIZE=1=2", "MAIL FROM:<a@example.com> X=\x01",
          "MAIL FROM:<a@example.com> \xc3\xa9=1"}) {
        EXPECT_EQ(refused(line), syntax) << line;
    }
    const SyntaxReply duplicate{501, "5.5.4", "Duplicate parameter"};
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> SIZE=1 SIZE=1"), duplicate);
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> BODY=7BIT body=8BITMIME"), duplicate);
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> SMTPUTF8 SIZE=2 SMTPUTF8"), duplicate);
    EXPECT_EQ(refused("MAIL FROM:<a@example.com> AUTH=<> AUTH=<>"), duplicate);
}

// --- RCPT TO ---------------------------------------------------------------------------------

TEST(CommandTest, RcptTakesTheForwardPath) {
    const Rcpt rcpt = parsed<Rcpt>("RCPT TO:<someone@example.org>");
    EXPECT_EQ(rcpt.forward_path.mailbox, "someone@example.org");
    EXPECT_EQ(rcpt.forward_path.local_part, "someone");
    EXPECT_EQ(rcpt.forward_path.domain, "example.org");
    for (const char* line : {"rcpt to:<someone@example.org>", "RCPT TO: <someone@example.org>",
                             "RCPT TO:someone@example.org", "RCPT  To:\t<someone@example.org> "}) {
        EXPECT_EQ(parsed<Rcpt>(line).forward_path.mailbox, "someone@example.org") << line;
    }
}

TEST(CommandTest, RcptAcceptsPostmasterWithoutDomain) {
    for (const char* line : {"RCPT TO:<Postmaster>", "RCPT TO:<postmaster>", "RCPT TO:<POSTMASTER>",
                             "RCPT TO:Postmaster"}) {
        const Rcpt rcpt = parsed<Rcpt>(line);
        EXPECT_TRUE(test::equals_ignoring_case(rcpt.forward_path.mailbox, "postmaster")) << line;
        EXPECT_EQ(rcpt.forward_path.local_part, rcpt.forward_path.mailbox);
        EXPECT_EQ(rcpt.forward_path.domain, "");
        EXPECT_FALSE(rcpt.forward_path.is_null());
    }
    EXPECT_EQ(parsed<Rcpt>("RCPT TO:<Postmaster@example.com>").forward_path.domain, "example.com");
    EXPECT_EQ(refused("RCPT TO:<postmasters>"), replies::recipient_syntax);
    EXPECT_EQ(refused("RCPT TO:<@relay.example:Postmaster>"), replies::recipient_syntax);
}

TEST(CommandTest, RcptRefusesTheNullPath) {
    EXPECT_EQ(refused("RCPT TO:<>"),
              (SyntaxReply{501, "5.1.3", "Null recipient address not allowed"}));
    EXPECT_EQ(refused("RCPT TO: <> "), replies::recipient_null);
}

TEST(CommandTest, RcptWithoutToIsRefusedWithAHint) {
    const SyntaxReply usage{501, "5.5.4", "Syntax: RCPT TO:<address>"};
    for (const char* line :
         {"RCPT", "RCPT TO:", "RCPT FROM:<a@example.com>", "RCPT <a@example.com>",
          "RCPT TO <a@example.com>", "RCPT TO:a@example.com NOTIFY=NEVER",
          "RCPT TO:<a@example.com>NOTIFY=NEVER"}) {
        EXPECT_EQ(refused(line), usage) << line;
    }
}

TEST(CommandTest, RcptWithABadPathIsRefusedAsBadRecipient) {
    const SyntaxReply reply{501, "5.1.3", "Bad recipient address syntax"};
    for (const char* line : {"RCPT TO:<user>", "RCPT TO:<user@example.com", "RCPT TO:<@>",
                             "RCPT TO:<user@example..com>", "RCPT TO:<.user@example.com>"}) {
        EXPECT_EQ(refused(line), reply) << line;
    }
}

TEST(CommandTest, RcptHasNoSupportedParameters) {
    const SyntaxReply unsupported{555, "5.5.4", "Unsupported parameter"};
    for (const char* line :
         {"RCPT TO:<a@example.com> NOTIFY=NEVER", "RCPT TO:<a@example.com> ORCPT=rfc822;a@b.c",
          "RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.c",
          "RCPT TO:<a@example.com> SIZE=10", "RCPT TO:<a@example.com> SMTPUTF8"}) {
        EXPECT_EQ(refused(line), unsupported) << line;
    }
    EXPECT_EQ(refused("RCPT TO:<a@example.com> =NEVER"), replies::parameter_syntax);
    EXPECT_EQ(refused("RCPT TO:<a@example.com> NOTIFY="), replies::parameter_syntax);
}

TEST(CommandTest, QuotedLocalPartMayHoldAngleBracketsAndSpaces) {
    const Rcpt rcpt = parsed<Rcpt>("RCPT TO:<\"john >doe\"@example.com>");
    EXPECT_EQ(rcpt.forward_path.local_part, "\"john >doe\"");
    EXPECT_EQ(rcpt.forward_path.domain, "example.com");
    const Mail mail = parsed<Mail>("MAIL FROM:<\"a\\\"> b\"@example.com> SIZE=5");
    EXPECT_EQ(mail.reverse_path.local_part, "\"a\\\"> b\"");
    EXPECT_EQ(mail.parameters.size, 5U);
}

// --- every view points into the line ---------------------------------------------------------

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

TEST(CommandTest, ResultsAreViewsIntoTheLine) {
    const std::string line = "MAIL FROM:<@a.example:user@example.com> AUTH=<> SIZE=1";
    const Command command = parse_command(line);
    const Mail& mail = std::get<Mail>(command);
    EXPECT_EQ(mail.reverse_path.mailbox.data(), line.data() + line.find("user@"));
    EXPECT_TRUE(inside(mail.reverse_path.local_part, line));
    EXPECT_TRUE(inside(mail.reverse_path.domain, line));
    EXPECT_EQ(mail.parameters.auth.data(), line.data() + line.find("<> SIZE"));
    const std::string auth_line = "AUTH PLAIN dGVzdA==";
    const Auth auth = std::get<Auth>(parse_command(auth_line));
    EXPECT_EQ(auth.mechanism.data(), auth_line.data() + 5);
    EXPECT_EQ(auth.initial_response.data(), auth_line.data() + 11);
}

// --- the reply table -------------------------------------------------------------------------

TEST(CommandTest, ReplyTableIsConsistent) {
    std::set<std::string_view> texts;
    for (const SyntaxReply& reply : replies::all) {
        EXPECT_GE(reply.code, 500) << reply.text;
        EXPECT_LE(reply.code, 599) << reply.text;
        EXPECT_EQ(reply.enhanced.substr(0, 2), "5.") << reply.text;
        EXPECT_FALSE(reply.text.empty());
        EXPECT_EQ(reply.text.find_first_of("\r\n"), std::string_view::npos);
        EXPECT_TRUE(texts.insert(reply.text).second) << "duplicate text " << reply.text;
    }
}

TEST(CommandTest, EveryDocumentedReplyIsReachable) {
    const std::string local_65(65, 'l');
    const std::string domain_256 = domain_of_length(256);
    const std::string domain_200 = domain_of_length(200);
    const std::vector<std::string> lines = {
        "EHLO",
        "HELO",
        "MAIL",
        "RCPT",
        "DATA x",
        "BDAT",
        "RSET x",
        "QUIT x",
        "VRFY",
        "EXPN",
        "STARTTLS x",
        "AUTH",
        "AUTH PLAIN !",
        "MAIL FROM:<x>",
        "MAIL FROM:<" + local_65 + "@example.com>",
        "MAIL FROM:<a@" + domain_256 + ">",
        "MAIL FROM:<" + std::string(60, 'a') + "@" + domain_200 + ">",
        "MAIL FROM:<\xff@a.b>",
        "RCPT TO:<x>",
        "RCPT TO:<>",
        "RCPT TO:<" + local_65 + "@example.com>",
        "RCPT TO:<a@" + domain_256 + ">",
        "RCPT TO:<" + std::string(60, 'a') + "@" + domain_200 + ">",
        "RCPT TO:<\xff@a.b>",
        "RCPT TO:<a@b> =",
        "RCPT TO:<a@b> X",
        "MAIL FROM:<> SIZE=1 SIZE=1",
        "MAIL FROM:<> SIZE=x",
        "MAIL FROM:<> BODY=x",
        "MAIL FROM:<> SMTPUTF8=x",
        "MAIL FROM:<> AUTH=+"};
    std::set<std::tuple<int, std::string_view, std::string_view>> produced;
    for (const std::string& line : lines) {
        const SyntaxReply reply = refused(line);
        produced.emplace(reply.code, reply.enhanced, reply.text);
    }
    for (const SyntaxReply& reply : replies::all) {
        if (reply == replies::unknown_command) {
            continue;  // sent by the session for Unknown
        }
        EXPECT_EQ(produced.count({reply.code, reply.enhanced, reply.text}), 1U)
            << "no test line produces " << reply.text;
    }
    EXPECT_EQ(produced.size(), std::size(replies::all) - 1);
}

}  // namespace
}  // namespace relay::smtp
