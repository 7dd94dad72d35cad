// config_fuzzer.cc -- libFuzzer harness for the configuration loader (config::parse), the value
// parsers it uses (config/values.h) and the reload split (config/reload.h).
//
// The input is a configuration file as an operator might mistype it. The loader must return a
// value or an error naming a key, never crash or throw. A Config it accepts must hold only
// values the rest of relayd can use without checking again (ports 1-65535, parsed routes); the
// reload split of it against the defaults must keep every key that needs a restart. The first
// line of the input also goes to the CIDR and endpoint parsers, whose results must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/config/config.h"
#include "relay/config/reload.h"
#include "relay/config/values.h"

namespace {

using namespace relay::config;

#define FUZZ_CHECK(condition)                                                           \
    do {                                                                                \
        if (!(condition)) {                                                             \
            std::fprintf(stderr, "check failed: %s (line %d)\n", #condition, __LINE__); \
            std::abort();                                                               \
        }                                                                               \
    } while (false)

const char* const base_text = R"([[listener]]
address = "127.0.0.1:2525"
)";

void check_config(const Config& config) {
    FUZZ_CHECK(!config.listeners.empty());
    for (const Listener& listener : config.listeners) {
        FUZZ_CHECK(listener.address.port() >= 1);
    }
    for (const Route& route : config.delivery.routes) {
        FUZZ_CHECK(route.endpoint.port >= 1);
        FUZZ_CHECK(!route.endpoint.host.empty());
        FUZZ_CHECK(route.domain == "*" || is_domain_name(route.domain));
    }
    FUZZ_CHECK(config.delivery.port >= 1);
    FUZZ_CHECK(!config.delivery.retry_schedule_s.empty());
    FUZZ_CHECK(config.limits.recipients_per_message_max >= 1);

    auto base = parse(base_text, "/fuzz", "/fuzz/base.toml");
    FUZZ_CHECK(base.ok());
    Reload reload = prepare_reload(base.value(), config);
    FUZZ_CHECK(reload.config.listeners == base.value().listeners);
    FUZZ_CHECK(reload.config.spool == base.value().spool);
    FUZZ_CHECK(reload.config.server.hostname == base.value().server.hostname);
    FUZZ_CHECK(reload.config.limits == config.limits);
    FUZZ_CHECK(reload.config.timeouts == config.timeouts);
}

void check_values(std::string_view line) {
    if (auto cidr = Cidr::parse(line)) {
        auto again = Cidr::parse(cidr->to_string());
        FUZZ_CHECK(again.ok() && again.value() == cidr.value());
        FUZZ_CHECK(cidr->prefix_bits <= (cidr->ipv6 ? 128u : 32u));
    }
    if (auto endpoint = parse_endpoint(line)) {
        FUZZ_CHECK(endpoint->port >= 1);
        auto again = parse_endpoint(endpoint->host + ":" + std::to_string(endpoint->port));
        FUZZ_CHECK(again.ok() && again.value() == endpoint.value());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = parse(text, "/fuzz", "/fuzz/relayd.toml");
    if (config) {
        check_config(config.value());
    } else {
        FUZZ_CHECK(!config.error().message.empty());
    }
    check_values(text.substr(0, text.find('\n')));
    return 0;
}
