// A file is read whole up to its bound and refused beyond it, so that a wrong path (a device, a
// log that grew) is an error an operator can read, not a read without end.
#include "relay/base/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

namespace relay {
namespace {

class ReadFile : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-file-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        folder_ = pattern;
    }
    void TearDown() override {
        ::unlink(path().c_str());
        ::rmdir(folder_.c_str());
    }
    std::string path() const { return folder_ + "/file"; }
    void write(const std::string& bytes) const { std::ofstream(path(), std::ios::binary) << bytes; }

    std::string folder_;
};

// Sizes around the bound and around the reader's first buffer (4 KiB) and its doublings.
TEST_F(ReadFile, ReadsEveryByteUpToTheBoundAndRefusesOneMore) {
    std::mt19937 random(7);
    for (std::size_t bytes_max : {0UL, 1UL, 4095UL, 4096UL, 4097UL, 65536UL, 100000UL}) {
        for (std::size_t size : {bytes_max, bytes_max + 1}) {
            std::string bytes(size, '\0');
            for (char& byte : bytes) {
                byte = static_cast<char>(random());
            }
            write(bytes);
            auto read = read_file("test file", path(), bytes_max);
            if (size <= bytes_max) {
                ASSERT_TRUE(read) << size << ": " << read.error().message;
                EXPECT_EQ(read.value(), bytes) << size;
            } else {
                ASSERT_FALSE(read) << size;
                EXPECT_EQ(read.error().message, "test file " + path() + " is larger than " +
                                                    std::to_string(bytes_max) + " bytes");
                EXPECT_EQ(read.error().blame, Blame::configuration);
            }
        }
    }
}

TEST_F(ReadFile, AMissingFileNamesItselfAndTheSystemError) {
    auto read = read_file("key file", path(), 1024);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().message,
              "cannot read key file " + path() + ": No such file or directory");
    EXPECT_EQ(read.error().system_errno, ENOENT);
    EXPECT_EQ(read.error().code, ErrorCode::not_found);
}

TEST_F(ReadFile, AFolderIsAnError) {
    auto read = read_file("config file", folder_, 1024);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().system_errno, EISDIR);
}

TEST_F(ReadFile, ADeviceWithoutEndStopsAtTheBound) {
    auto read = read_file("config file", "/dev/zero", 1 << 20);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().message, "config file /dev/zero is larger than 1048576 bytes");
}

}  // namespace
}  // namespace relay
