// tls_versions_test.cc -- TLS versions counted per worker and summed for /metrics.
#include "relay/stats/tls_versions.h"

#include <gtest/gtest.h>

namespace relay::stats {
namespace {

TEST(TlsVersions, KnownVersionsOtherAndNoneAreCountedApart) {
    TlsVersions versions(2);
    versions.worker(0).count_inbound("TLSv1.3");
    versions.worker(1).count_inbound("TLSv1.3");
    versions.worker(1).count_inbound("TLSv1.2");
    versions.worker(0).count_inbound("TLSv1.1");
    versions.worker(0).count_outbound("");
    versions.worker(1).count_outbound("TLSv1.2");
    TlsVersionCounts counts = versions.snapshot();
    EXPECT_EQ(counts.inbound, (std::array<std::uint64_t, 4>{2, 1, 1, 0}));
    EXPECT_EQ(counts.outbound, (std::array<std::uint64_t, 4>{0, 1, 0, 1}));
}

}  // namespace
}  // namespace relay::stats
