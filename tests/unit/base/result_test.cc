// Errors say what kind of failure they are and who must act, so callers answer without parsing
// messages; incident ids tie a client's reply to the log line.
#include "relay/base/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

#include "relay/base/incident.h"

namespace relay {
namespace {

TEST(SystemError, AFullDiskIsAResourceThatDrains) {
    Error error = system_error("cannot write the spool", -ENOSPC);
    EXPECT_EQ(error.code, ErrorCode::resource_exhausted);
    EXPECT_EQ(error.blame, Blame::relay);
    EXPECT_EQ(error.system_errno, ENOSPC);
    EXPECT_TRUE(error.retry_can_help());
    EXPECT_EQ(error.message, "cannot write the spool: No space left on device");
}

TEST(SystemError, ARefusedConnectionIsThePeersAndTemporary) {
    Error error = system_error("connect", ECONNREFUSED);
    EXPECT_EQ(error.code, ErrorCode::unavailable);
    EXPECT_EQ(error.blame, Blame::peer);
    EXPECT_TRUE(error.retry_can_help());
}

TEST(SystemError, AMissingOrForbiddenPathIsTheConfigurations) {
    for (int number : {ENOENT, EACCES, EROFS}) {
        Error error = system_error("cannot open /var/spool/relay", number);
        EXPECT_EQ(error.blame, Blame::configuration) << number;
        EXPECT_FALSE(error.retry_can_help()) << number;
    }
}

TEST(MakeError, StatesItsKind) {
    Error error = make_error(ErrorCode::data_loss, Blame::relay, "chunk damaged");
    EXPECT_EQ(error.code, ErrorCode::data_loss);
    EXPECT_FALSE(error.retry_can_help());
    EXPECT_EQ(error.system_errno, 0);
}

TEST(IncidentId, TenCharactersThatReadAloudAndDiffer) {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        std::string id = new_incident_id();
        ASSERT_EQ(id.size(), 10u);
        EXPECT_EQ(id.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos)
            << id;
        seen.insert(id);
    }
    EXPECT_EQ(seen.size(), 10000u);
}

}  // namespace
}  // namespace relay
