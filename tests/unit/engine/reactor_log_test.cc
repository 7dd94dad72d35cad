// A worker's log lines are written in batches through its ring; none may be lost or reordered
// when the loop stops, however many are pending or in flight at that moment.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "relay/base/log.h"
#include "relay/engine/reactor.h"

namespace relay::engine {
namespace {

// Sends stderr (where the log goes) to a file for the test's lifetime.
class CapturedStderr {
  public:
    CapturedStderr() {
        std::fflush(stderr);
        saved_ = dup(STDERR_FILENO);
        int file = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(file, STDERR_FILENO);
        close(file);
    }
    ~CapturedStderr() {
        restore();
        unlink(path_.c_str());
    }
    std::string text() {
        restore();
        std::ifstream file(path_);
        std::ostringstream content;
        content << file.rdbuf();
        return content.str();
    }

  private:
    void restore() {
        if (saved_ >= 0) {
            dup2(saved_, STDERR_FILENO);
            close(saved_);
            saved_ = -1;
        }
    }
    std::string path_ = "/tmp/relay-reactor-log-test-" + std::to_string(getpid());
    int saved_ = -1;
};

TEST(ReactorLog, LinesLoggedJustBeforeTheLoopStopsAreAllWrittenInOrder) {
    for (int lines_before_stop : {1, 10, 3000}) {  // 3000 lines pass the batch size
        CapturedStderr captured;
        {
            auto reactor = Reactor::create(0, ReactorOptions{64, 16, 4096});
            ASSERT_TRUE(reactor) << reactor.error().message;
            Reactor& loop = *reactor.value();
            // One turn logs a first batch (it goes to the ring), the next logs the rest and stops.
            loop.defer([&] {
                for (int i = 0; i < lines_before_stop; ++i) {
                    log::info("line {}", i);
                }
                loop.defer([&] {
                    log::info("the last words");
                    loop.stop();
                });
            });
            loop.run();
        }
        std::string text = captured.text();
        std::size_t at = 0;
        for (int i = 0; i < lines_before_stop; ++i) {
            at = text.find("line " + std::to_string(i) + "\n", at);
            ASSERT_NE(at, std::string::npos) << "line " << i << " of " << lines_before_stop;
        }
        EXPECT_NE(text.find("the last words", at), std::string::npos) << lines_before_stop;
    }
}

}  // namespace
}  // namespace relay::engine
