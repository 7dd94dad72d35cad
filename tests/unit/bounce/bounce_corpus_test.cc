// bounce_corpus_test.cc -- parse_report on the real bounces and complaints of the shared sample
// folder (read in place, never copied), compared with the expectations of the Sisimai test suites
// that its expected.json carries. The floors below sit a little under what the parser reaches, so
// a change that makes classification worse fails here; docs/bounces.md gives the figures.
//
// The folder is $RELAY_BOUNCE_SAMPLES, else ../shared/data/bounces beside the source tree; the
// tests skip when it is absent. RELAY_BOUNCE_VERBOSE=1 prints every file that misses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "relay/bounce/report.h"

namespace relay::bounce {
namespace {

namespace fs = std::filesystem;

fs::path samples_folder() {
    const char* configured = std::getenv("RELAY_BOUNCE_SAMPLES");
    if (configured != nullptr && *configured != '\0') {
        return configured;
    }
    return fs::path(RELAY_SOURCE_ROOT) / ".." / "shared" / "data" / "bounces";
}

bool verbose() {
    const char* value = std::getenv("RELAY_BOUNCE_VERBOSE");
    return value != nullptr && *value == '1';
}

std::string read_file(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << stream.rdbuf();
    return bytes.str();
}

std::vector<fs::path> sample_files(const fs::path& folder) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
        if (entry.path().extension() == ".eml") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

// Sisimai's names for the reasons that correspond to one of ours; where Sisimai splits what we
// keep as one reason, every name of the split counts.
bool same_reason(BounceReason ours, const std::string& theirs) {
    static const std::multimap<BounceReason, std::string> names = {
        {BounceReason::unknown, "undefined"},
        {BounceReason::unknown, "onhold"},
        {BounceReason::no_such_user, "userunknown"},
        {BounceReason::mailbox_full, "mailboxfull"},
        {BounceReason::mailbox_disabled, "suspend"},
        {BounceReason::has_moved, "hasmoved"},
        {BounceReason::host_not_found, "hostunknown"},
        {BounceReason::no_mail_accepted, "notaccept"},
        {BounceReason::relaying_denied, "norelaying"},
        {BounceReason::blocked, "blocked"},
        {BounceReason::bad_reputation, "badreputation"},
        {BounceReason::require_ptr, "requireptr"},
        {BounceReason::authentication, "authfailure"},
        {BounceReason::tls_required, "failedstarttls"},
        {BounceReason::policy, "policyviolation"},
        {BounceReason::filtered, "filtered"},
        {BounceReason::sender_rejected, "rejected"},
        {BounceReason::spam, "spamdetected"},
        {BounceReason::virus, "virusdetected"},
        {BounceReason::content_rejected, "contenterror"},
        {BounceReason::not_rfc_compliant, "notcompliantrfc"},
        {BounceReason::message_too_large, "mesgtoobig"},
        {BounceReason::exceeds_limit, "exceedlimit"},
        {BounceReason::rate_limited, "toomanyconn"},
        {BounceReason::rate_limited, "speeding"},
        {BounceReason::expired, "expired"},
        {BounceReason::network_error, "networkerror"},
        {BounceReason::system_error, "systemerror"},
        {BounceReason::system_error, "mailererror"},
        {BounceReason::system_full, "systemfull"},
        {BounceReason::syntax_error, "syntaxerror"},
        {BounceReason::complaint, "feedback"},
        {BounceReason::auto_reply, "vacation"},
        {BounceReason::delivered, "delivered"},
    };
    auto [first, last] = names.equal_range(ours);
    return std::any_of(first, last, [&](const auto& entry) { return entry.second == theirs; });
}

// A status Sisimai made up when the message carried none (5.0.9xx).
bool is_pseudo_status(const std::string& status) {
    return status.size() >= 7 && status.substr(1, 4) == ".0.9";
}

struct Tally {
    int files = 0;
    int entries = 0;
    int classified = 0;         // a kind other than unknown
    int with_recipient = 0;     // entries whose recipient we found
    int statuses_carried = 0;   // entries whose status appears in the message
    int statuses_found = 0;     // ... and for which we found some status
    int statuses_compared = 0;  // entries with a real (not pseudo) expected status
    int statuses_matched = 0;
    int reasons_matched = 0;
    int hard_matched = 0;
    // The same per file: a file matches when every entry of it does.
    int files_compared = 0;
    int files_with_status = 0;  // files with at least one real expected status
    int files_status_matched = 0;
    int files_reason_matched = 0;
    int files_hard_matched = 0;
};

void compare_entry(const std::string& name, const std::string& bytes, const Report& report,
                   std::size_t index, const nlohmann::json& expected, Tally& tally) {
    ++tally.entries;
    const std::string status = expected.value("status", "");
    const std::string reason = expected.value("reason", "");
    const bool hard = expected.value("hard", false);
    FailedRecipient none;
    const FailedRecipient& ours = index < report.recipients.size() ? report.recipients[index]
                                  : report.recipients.empty()      ? none
                                                                   : report.recipients.back();
    Classification classification =
        report.recipients.empty() ? report.classification : ours.classification;
    if (!ours.address.empty()) {
        ++tally.with_recipient;
    }
    if (!status.empty() && !is_pseudo_status(status) && bytes.find(status) != std::string::npos) {
        ++tally.statuses_carried;
        tally.statuses_found += ours.status.empty() ? 0 : 1;
    }
    if (!status.empty() && !is_pseudo_status(status)) {
        ++tally.statuses_compared;
        tally.statuses_matched += ours.status == status ? 1 : 0;
    }
    bool reason_ok = same_reason(classification.reason, reason);
    bool hard_ok = (classification.bounce_class == BounceClass::hard) == hard;
    tally.reasons_matched += reason_ok ? 1 : 0;
    tally.hard_matched += hard_ok ? 1 : 0;
    if (verbose() && (!reason_ok || !hard_ok || (!status.empty() && ours.status != status))) {
        std::printf(
            "MISS %-34s kind=%-15s rcpt=%-30s status=%-7s/%-7s reply=%s/%s "
            "reason=%s/%s hard=%d/%d\n",
            name.c_str(), std::string(kind_name(report.kind)).c_str(), ours.address.c_str(),
            ours.status.c_str(), status.c_str(), ours.reply_code.c_str(),
            expected.value("reply", "").c_str(),
            std::string(reason_name(classification.reason)).c_str(), reason.c_str(),
            classification.bounce_class == BounceClass::hard ? 1 : 0, hard ? 1 : 0);
    }
}

double share(int part, int whole) {
    return whole == 0 ? 0.0 : 100.0 * part / whole;
}

TEST(BounceCorpus, EveryFileParsesAndMostMatchSisimai) {
    fs::path folder = samples_folder();
    if (!fs::is_directory(folder)) {
        GTEST_SKIP() << "no sample folder at " << folder;
    }
    nlohmann::json expected = nlohmann::json::parse(read_file(folder / "expected.json"));
    Tally tally;
    for (const fs::path& path : sample_files(folder)) {
        std::string bytes = read_file(path);
        Report report = parse_report(bytes);
        ++tally.files;
        tally.classified += report.kind == ReportKind::unknown ? 0 : 1;
        std::string name = path.filename().string();
        // The standard formats must all be recognised, with whom they name.
        if (name.starts_with("arf-")) {
            EXPECT_EQ(report.kind, ReportKind::feedback) << name;
            // Who complained, or at least which message: two of them quote only headers
            // addressed to "Undisclosed Recipients".
            EXPECT_TRUE(!report.recipients.empty() || !report.original_message_id.empty()) << name;
            EXPECT_EQ(report.classification.bounce_class, BounceClass::complaint) << name;
        }
        if (name.starts_with("rfc3834-")) {
            EXPECT_EQ(report.kind, ReportKind::auto_reply) << name;
            EXPECT_EQ(report.classification.bounce_class, BounceClass::auto_reply) << name;
        }
        if (name.starts_with("rfc3464-")) {
            EXPECT_NE(report.kind, ReportKind::unknown) << name;
            EXPECT_FALSE(report.recipients.empty()) << name;
        }
        if (!expected.contains(name)) {
            continue;
        }
        Tally before = tally;
        std::size_t index = 0;
        for (const nlohmann::json& entry : expected[name]) {
            compare_entry(name, bytes, report, index++, entry, tally);
        }
        int entries = tally.entries - before.entries;
        int statuses = tally.statuses_compared - before.statuses_compared;
        ++tally.files_compared;
        if (statuses > 0) {
            ++tally.files_with_status;
            tally.files_status_matched +=
                tally.statuses_matched - before.statuses_matched == statuses ? 1 : 0;
        }
        tally.files_reason_matched +=
            tally.reasons_matched - before.reasons_matched == entries ? 1 : 0;
        tally.files_hard_matched += tally.hard_matched - before.hard_matched == entries ? 1 : 0;
    }
    std::printf(
        "files %d, classified %d (%.1f%%); entries %d, recipient found %d (%.1f%%); "
        "status carried %d, found %d (%.1f%%); status equal %d of %d (%.1f%%); "
        "reason equal %d (%.1f%%); hard/soft equal %d (%.1f%%)\n",
        tally.files, tally.classified, share(tally.classified, tally.files), tally.entries,
        tally.with_recipient, share(tally.with_recipient, tally.entries), tally.statuses_carried,
        tally.statuses_found, share(tally.statuses_found, tally.statuses_carried),
        tally.statuses_matched, tally.statuses_compared,
        share(tally.statuses_matched, tally.statuses_compared), tally.reasons_matched,
        share(tally.reasons_matched, tally.entries), tally.hard_matched,
        share(tally.hard_matched, tally.entries));
    std::printf(
        "files compared %d: status equal %d of %d (%.1f%%), reason equal %d (%.1f%%), "
        "hard/soft equal %d (%.1f%%)\n",
        tally.files_compared, tally.files_status_matched, tally.files_with_status,
        share(tally.files_status_matched, tally.files_with_status), tally.files_reason_matched,
        share(tally.files_reason_matched, tally.files_compared), tally.files_hard_matched,
        share(tally.files_hard_matched, tally.files_compared));
    EXPECT_GE(tally.files, 300);
    EXPECT_GE(share(tally.classified, tally.files), 95.0);
    EXPECT_GE(share(tally.with_recipient, tally.entries), 95.0);
    EXPECT_GE(share(tally.statuses_found, tally.statuses_carried), 97.0);
    EXPECT_GE(share(tally.statuses_matched, tally.statuses_compared), 93.0);
    EXPECT_GE(share(tally.reasons_matched, tally.entries), 65.0);
    EXPECT_GE(share(tally.hard_matched, tally.entries), 85.0);
}

}  // namespace
}  // namespace relay::bounce
