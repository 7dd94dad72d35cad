// message_id.cc -- making a Message-ID for a message without one (see message_id.h).
//
// Thread: any. Never: block (getrandom with GRND_NONBLOCK seeds each thread's generator once).
#include "message_id.h"

#include <sys/random.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "relay/base/ascii.h"

namespace relay::ingress::internal {
namespace {

std::uint64_t next_random() {
    thread_local std::mt19937_64 generator = [] {
        std::uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed) {
            seed = static_cast<std::uint64_t>(
                std::chrono::steady_clock::now().time_since_epoch().count());
        }
        return std::mt19937_64(seed);
    }();
    return generator();
}

}  // namespace

bool has_message_id(const message::HeaderBlock& headers) {
    std::string_view bytes = headers.bytes;
    for (const message::HeaderField& field : headers.fields) {
        if (field.name_bytes != 0 && field.offset + field.name_bytes <= bytes.size() &&
            equal_ignoring_case(bytes.substr(field.offset, field.name_bytes), "message-id")) {
            return true;
        }
    }
    return false;
}

std::string make_message_id(spool::QueueId id, std::string_view hostname) {
    char random[17];
    std::snprintf(random, sizeof random, "%016llx", static_cast<unsigned long long>(next_random()));
    return "<" + spool::format_queue_id(id) + "." + random + "@" + std::string(hostname) + ">";
}

std::string message_id_field(std::string_view message_id) {
    return "Message-ID: " + std::string(message_id) + "\r\n";
}

}  // namespace relay::ingress::internal
