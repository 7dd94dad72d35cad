// refusal_log_test.cc -- a flood of refusals gets a budget of lines per interval, then a count
// that is logged once the interval is over, so nothing refused goes unmentioned.
#include "relay/ingress/refusal_log.h"

#include <gtest/gtest.h>

#include <string>

namespace relay::ingress {
namespace {

using namespace std::chrono_literals;

TEST(RefusalLog, LogsTheBudgetThenCountsTheRest) {
    RefusalLog log(3, 1s);
    engine::Clock::time_point start{std::chrono::hours(1)};
    int admitted = 0;
    for (int index = 0; index < 10; ++index) {
        admitted += log.admit(start + std::chrono::milliseconds(index)) ? 1 : 0;
    }
    EXPECT_EQ(admitted, 3);
    EXPECT_EQ(log.held_back_total(), 7u);
}

TEST(RefusalLog, TheCountIsLoggedWhenTheIntervalIsOver) {
    RefusalLog log(2, 1s);
    engine::Clock::time_point start{std::chrono::hours(1)};
    for (int index = 0; index < 5; ++index) {
        log.admit(start);
    }
    testing::internal::CaptureStderr();
    log.flush(start + 500ms);  // the interval is not over: nothing yet
    log.flush(start + 1s);
    log.flush(start + 2s);  // reported once
    std::string written = testing::internal::GetCapturedStderr();
    EXPECT_NE(written.find("3 more connections refused within 1000 ms"), std::string::npos)
        << written;
    EXPECT_EQ(written.find("more connections refused", written.find("refused") + 1),
              std::string::npos)
        << written;
}

TEST(RefusalLog, ANewIntervalHasItsOwnBudget) {
    RefusalLog log(1, 1s);
    engine::Clock::time_point start{std::chrono::hours(1)};
    EXPECT_TRUE(log.admit(start));
    EXPECT_FALSE(log.admit(start + 10ms));
    testing::internal::CaptureStderr();
    EXPECT_TRUE(log.admit(start + 1s));  // reports the one held back, then logs this one
    EXPECT_NE(testing::internal::GetCapturedStderr().find("1 more connections refused"),
              std::string::npos);
    EXPECT_FALSE(log.admit(start + 1s + 10ms));
}

}  // namespace
}  // namespace relay::ingress
