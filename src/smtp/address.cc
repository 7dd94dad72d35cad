// address.cc -- domain extraction and case folding for stored addresses.
#include "relay/smtp/address.h"

#include "relay/base/ascii.h"

namespace relay::smtp {

std::string domain_of(std::string_view address) {
    std::size_t at = address.rfind('@');
    return at == std::string_view::npos ? std::string() : ascii_lower(address.substr(at + 1));
}

}  // namespace relay::smtp
