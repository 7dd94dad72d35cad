// idna.cc -- UTF-8 domains to A-labels through libidn2.
#include "relay/delivery/idna.h"

#include <idn2.h>

#include <algorithm>

#include "relay/base/ascii.h"
#include "relay/smtp/address.h"

namespace relay::delivery {

std::optional<std::string> domain_to_ascii(std::string_view domain) {
    bool ascii = std::all_of(domain.begin(), domain.end(),
                             [](char c) { return (static_cast<unsigned char>(c) & 0x80) == 0; });
    if (ascii) {
        return ascii_lower(domain);
    }
    std::string input(domain);  // libidn2 wants a NUL-terminated string
    char* output = nullptr;
    int result = idn2_to_ascii_8z(input.c_str(), &output, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (result != IDN2_OK || output == nullptr) {
        return std::nullopt;
    }
    std::string converted(output);
    idn2_free(output);
    return converted;
}

}  // namespace relay::delivery
