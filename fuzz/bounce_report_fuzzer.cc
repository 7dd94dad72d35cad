// bounce_report_fuzzer.cc -- libFuzzer harness for the bounce parser and its MIME walker.
//
// Untrusted bytes: the whole input, as a received report. Checks that parsing never crashes and
// gives the same report twice, and the bounds the bounce listener relies on: no more recipients,
// addresses or tokens than the limits, diagnostics cut to their limit, every status an enhanced
// code and every reply code a 4xx or 5xx, a kind that agrees with its classification, every VERP
// token taken from an address the report was sent to. The MIME walk keeps to its part, depth and
// field limits, and its decoded leaves together are never longer than the input.
//
// Input layout: [flags][bytes]. Flags: bit 4 keeps the default limits; otherwise the low bits pick
// small ones (depth 1-4, parts 2-17, recipients 1-4, fields 4-19), so that small inputs meet them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_checks.h"
#include "relay/base/ascii.h"
#include "relay/bounce/mime.h"
#include "relay/bounce/report.h"

namespace {

using fuzz_checks::check;
using relay::bounce::BounceClass;
using relay::bounce::FailedRecipient;
using relay::bounce::Report;
using relay::bounce::ReportKind;
using relay::bounce::ReportLimits;

bool is_digit(char octet) {
    return octet >= '0' && octet <= '9';
}

// "C.S.D": class 2, 4 or 5, then one to three digits twice.
bool is_enhanced_status(std::string_view status) {
    if (status.size() < 5 || (status[0] != '2' && status[0] != '4' && status[0] != '5') ||
        status[1] != '.') {
        return false;
    }
    std::size_t index = 2;
    for (int group = 0; group < 2; ++group) {
        std::size_t digits = 0;
        while (index < status.size() && is_digit(status[index])) {
            ++index;
            ++digits;
        }
        if (digits == 0 || digits > 3) {
            return false;
        }
        if (group == 0) {
            if (index >= status.size() || status[index] != '.') {
                return false;
            }
            ++index;
        }
    }
    return index == status.size();
}

bool is_failure_reply(std::string_view code) {
    return code.size() == 3 && (code[0] == '4' || code[0] == '5') && is_digit(code[1]) &&
           is_digit(code[2]);
}

// Everything a report holds, in one string, to compare two parses.
std::string flattened(const Report& report) {
    std::string text;
    text += std::to_string(static_cast<int>(report.kind)) + "|" +
            std::to_string(static_cast<int>(report.classification.bounce_class)) + "|" +
            std::to_string(static_cast<int>(report.classification.reason)) + "|" +
            report.original_message_id + "|" + report.original_subject + "|" +
            report.feedback.feedback_type + "|" + report.feedback.source_ip + "|" +
            (report.truncated ? "t" : "f");
    for (const FailedRecipient& recipient : report.recipients) {
        text += "|" + recipient.address + "," + recipient.original_address + "," +
                recipient.action + "," + recipient.status + "," + recipient.reply_code + "," +
                recipient.diagnostic + "," + recipient.remote_mta + "," +
                std::to_string(static_cast<int>(recipient.classification.reason));
    }
    for (const std::string& address : report.addressed_to) {
        text += "|" + address;
    }
    for (const std::string& token : report.verp_tokens) {
        text += "|" + token;
    }
    return text;
}

bool is_token_of_an_address(const Report& report, const ReportLimits& limits,
                            const std::string& token) {
    for (const std::string& address : report.addressed_to) {
        if (relay::starts_with_ignoring_case(address, limits.verp_prefix) &&
            std::string_view(address).substr(limits.verp_prefix.size()).starts_with(token + "@")) {
            return true;
        }
    }
    return false;
}

void check_report(const Report& report, const ReportLimits& limits) {
    check(report.recipients.size() <= limits.recipients_max);
    check(report.addressed_to.size() <= limits.recipients_max);
    check(report.verp_tokens.size() <= report.addressed_to.size());
    for (const std::string& token : report.verp_tokens) {
        check(!token.empty() && is_token_of_an_address(report, limits, token));
    }
    for (const FailedRecipient& recipient : report.recipients) {
        check(recipient.diagnostic.size() <= limits.diagnostic_bytes_max);
        check(recipient.status.empty() || is_enhanced_status(recipient.status));
        check(recipient.reply_code.empty() || is_failure_reply(recipient.reply_code));
        check(recipient.address.empty() || recipient.address.find('@') != std::string::npos);
    }
    if (report.kind == ReportKind::feedback) {
        check(report.classification.bounce_class == BounceClass::complaint);
    }
    if (report.kind == ReportKind::auto_reply) {
        check(report.classification.bounce_class == BounceClass::auto_reply);
    }
    if (report.kind == ReportKind::unknown) {
        check(report.recipients.empty());
        check(report.classification.bounce_class == BounceClass::unknown);
    }
}

void check_mime(std::string_view input, const relay::bounce::MimeLimits& limits) {
    relay::bounce::MimeTree tree = relay::bounce::walk_mime(input, limits);
    check(!tree.parts.empty() && tree.parts.size() <= limits.parts_max);
    std::size_t leaf_bytes = 0;
    for (const relay::bounce::MimePart& part : tree.parts) {
        check(part.depth <= limits.depth_max);
        check(part.headers.fields.size() <= limits.header_fields_max);
        check(!part.media_type.empty());
        leaf_bytes += part.body.size();
    }
    check(leaf_bytes <= input.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const std::uint8_t flags = data[0];
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    ReportLimits limits;
    if ((flags & 16) == 0) {
        limits.depth_max = 1 + (flags & 3);
        limits.parts_max = 2 + (flags & 15);
        limits.recipients_max = 1 + (flags & 3);
        limits.header_fields_max = 4 + (flags & 15);
        limits.diagnostic_bytes_max = 16;
    }
    const Report report = relay::bounce::parse_report(input, limits);
    const Report again = relay::bounce::parse_report(input, limits);
    check(flattened(report) == flattened(again));
    check_report(report, limits);
    check_mime(input, relay::bounce::MimeLimits{limits.depth_max, limits.parts_max,
                                                limits.header_fields_max});
    return 0;
}
