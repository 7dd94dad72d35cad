// output.cc -- relayctl's errors and JSON output.
#include "output.h"

#include <cstdio>

namespace relay::ctl {

int fail(const std::string& message) {
    std::fprintf(stderr, "relayctl: %s\n", message.c_str());
    return 1;
}

int usage(const std::string& message) {
    std::fprintf(stderr, "relayctl: %s\n", message.c_str());
    return 2;
}

void print_json(const nlohmann::json& value) {
    std::printf("%s\n", value.dump(2).c_str());
}

}  // namespace relay::ctl
