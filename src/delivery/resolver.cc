// resolver.cc -- the c-ares channel behind Resolver: slots for lookups in flight, a bounded FIFO
// of waiting lookups, and a queue of finished ones whose callbacks run from the owner's loop.
//
// Thread: the worker that created the resolver, only (asserted). Never blocks: c-ares runs with
// its sockets non-blocking and is only ever driven through ares_process_fd() with the fds the
// loop reported ready. Untrusted bytes: DNS answers, handed to c-ares's parsers
// (ares_parse_mx_reply, ares_parse_a_reply, ares_parse_aaaa_reply, ares_parse_txt_reply_ext) and,
// for TLSA, which c-ares 1.18 cannot parse, to parse_tlsa_answer; the addresses kept are bounded
// by addresses_per_family_max, the MX records by the answer size (<= 64 KiB).
// RFC 1035 §4.1.1 (RCODE meanings), RFC 2308 §2.1-2.2 (NXDOMAIN vs NODATA), RFC 6891 (EDNS0).
//
// Why the c-ares options are what they are:
//   * ares_send of a query built here, never ares_search or ares_gethostbyname: mail domains
//     are absolute names, so no search list, and delivery wants DNS only (never /etc/hosts)
//     with separate A and AAAA outcomes, which gethostbyname/getaddrinfo fold into one status.
//     Not ares_query either: it cannot set the AD flag in the query, without which a validating
//     resolver leaves the AD bit out of its answer (RFC 6840 §5.7). answer_status() maps the
//     answer's RCODE as ares_query would.
//   * ARES_FLAG_NOCHECKRESP: without it c-ares swallows SERVFAIL and REFUSED answers, retries,
//     and finally reports "connection refused"; with it the lookup ends at once as a temporary
//     failure whose reason names what the server said. Timeouts still move to the next server.
//   * c-ares may finish a query inside ares_query() itself (an invalid name, no usable socket)
//     and always inside ares_process_fd(). Its callbacks here only record results; user
//     callbacks run later from deliver_completions(), so nothing re-enters the caller or c-ares.
// Must never: call a user callback from a c-ares callback or from lookup_*(); touch the Impl
// from a c-ares callback while the channel is being destroyed.
#include "relay/delivery/resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "relay/base/assert.h"
#include "relay/delivery/tlsa_answer.h"

namespace relay::delivery {
namespace {

// Bounds of ResolverOptions, as documented in resolver.h.
constexpr std::uint32_t timeout_ms_max = 60'000;
constexpr std::uint32_t tries_max = 10;
constexpr std::uint32_t lookups_in_flight_max_max = 4096;
constexpr std::uint32_t lookups_waiting_max_max = 1u << 20;
constexpr std::uint32_t addresses_per_family_max_max = 64;
constexpr std::uint32_t udp_payload_bytes_min = 512;
constexpr std::uint32_t udp_payload_bytes_max_max = 4096;
constexpr std::uint16_t dns_port_default = 53;

int library_init_status() {
    // ares_library_init is not thread-safe; a function-local static runs it exactly once.
    static const int status = ares_library_init(ARES_LIB_INIT_ALL);
    return status;
}

// What follows "DNS lookup of MX for example.com" for a status that is not success.
std::string failure_suffix(int status, std::string_view type) {
    switch (status) {
        case ARES_ENODATA:
            return fmt::format(": no {} records", type);
        case ARES_ENOTFOUND:
            return ": domain does not exist (NXDOMAIN)";
        case ARES_EBADNAME:
            return ": not a valid domain name";
        case ARES_ETIMEOUT:
            return " timed out";
        case ARES_ESERVFAIL:
            return " failed: server failure (SERVFAIL)";
        case ARES_EREFUSED:
            return " failed: refused by the DNS server (REFUSED)";
        case ARES_ENOTIMP:
            return " failed: not implemented by the DNS server (NOTIMP)";
        case ARES_EFORMERR:
            return " failed: the DNS server could not parse the query (FORMERR)";
        case ARES_ECONNREFUSED:
            return " failed: DNS server unreachable";
        case ARES_EBADRESP:
            return ": malformed answer";
        case ARES_ENOMEM:
            return " failed: out of memory";
        default:
            return fmt::format(" failed: {}", ares_strerror(status));
    }
}

constexpr std::uint8_t query_flag_authenticated_data = 0x20;  // byte 3 of the header

// The status ares_query would report for an answer ares_send delivers: the RCODE and the
// answer count of a response that arrived, the transport's status otherwise.
int answer_status(int status, const unsigned char* answer, int answer_bytes) {
    constexpr int header_bytes = 12;
    if (status != ARES_SUCCESS || answer == nullptr || answer_bytes < header_bytes) {
        return status == ARES_SUCCESS ? ARES_EBADRESP : status;
    }
    const unsigned answers = (unsigned{answer[6]} << 8) | answer[7];
    switch (answer[3] & 0x0F) {
        case ns_r_noerror:
            return answers > 0 ? ARES_SUCCESS : ARES_ENODATA;
        case ns_r_formerr:
            return ARES_EFORMERR;
        case ns_r_servfail:
            return ARES_ESERVFAIL;
        case ns_r_nxdomain:
            return ARES_ENOTFOUND;
        case ns_r_notimpl:
            return ARES_ENOTIMP;
        case ns_r_refused:
            return ARES_EREFUSED;
        default:
            return ARES_ESERVFAIL;
    }
}

// The AD bit of an answer that was a response (records or NODATA/NXDOMAIN); false otherwise.
bool authenticated_answer(int status, const unsigned char* answer, int answer_bytes) {
    if (answer == nullptr || answer_bytes <= 0) {
        return false;
    }
    const bool response =
        status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND;
    return response && dns_answer_authenticated(std::span<const std::uint8_t>(
                           answer, static_cast<std::size_t>(answer_bytes)));
}

DnsOutcome outcome_for(int status) {
    switch (status) {
        case ARES_SUCCESS:
            return DnsOutcome::found;
        case ARES_ENODATA:
            return DnsOutcome::no_data;
        case ARES_ENOTFOUND:
        case ARES_EBADNAME:
            return DnsOutcome::no_domain;
        case ARES_EBADRESP:
            return DnsOutcome::malformed_answer;
        default:
            return DnsOutcome::temporary_failure;
    }
}

// Target of an MX record, normalised; "." for the root (null MX). A target that is no valid
// host name is kept in printable form: its address lookup then fails as no_domain.
std::string mx_target(const char* host) {
    const std::string_view text = host == nullptr ? std::string_view() : std::string_view(host);
    if (text.empty() || text == ".") {
        return ".";
    }
    return normalize_dns_name(text).value_or(printable_dns_name(text));
}

// Skips an encoded name (RFC 1035 §4.1.4) from `offset`; nullopt if it runs past the end.
std::optional<std::size_t> skip_name(const unsigned char* message, std::size_t bytes,
                                     std::size_t offset) {
    while (offset < bytes) {
        const unsigned length = message[offset];
        if ((length & 0xC0) == 0xC0) {
            return offset + 2 <= bytes ? std::optional<std::size_t>(offset + 2) : std::nullopt;
        }
        if (length == 0) {
            return offset + 1;
        }
        offset += 1 + length;
    }
    return std::nullopt;
}

// The smallest TTL of the answer section's records (RFC 1035 §4.1.3), as the time the answer
// may be kept; 0 when the message is too short to say. c-ares 1.18 reports no TTL for MX.
std::uint32_t answer_ttl_s(const unsigned char* message, int message_bytes) {
    if (message == nullptr || message_bytes < 12) {
        return 0;
    }
    const auto bytes = static_cast<std::size_t>(message_bytes);
    auto u16 = [message](std::size_t at) {
        return static_cast<unsigned>((message[at] << 8) | message[at + 1]);
    };
    const unsigned questions = u16(4);
    const unsigned answers = u16(6);
    std::optional<std::size_t> offset = 12;
    for (unsigned index = 0; index < questions && offset; ++index) {
        offset = skip_name(message, bytes, *offset);
        offset = offset && *offset + 4 <= bytes ? std::optional(*offset + 4) : std::nullopt;
    }
    std::optional<std::uint32_t> smallest;
    for (unsigned index = 0; index < answers && offset; ++index) {
        offset = skip_name(message, bytes, *offset);
        if (!offset || *offset + 10 > bytes) {
            break;
        }
        const std::size_t at = *offset;
        const std::uint32_t ttl = (std::uint32_t{u16(at + 4)} << 16) | u16(at + 6);
        // RFC 2181 §8: a TTL with the top bit set is taken as zero.
        const std::uint32_t kept = (ttl & 0x80000000u) != 0 ? 0 : ttl;
        smallest = smallest ? std::min(*smallest, kept) : kept;
        offset = at + 10 + u16(at + 8);
    }
    return smallest.value_or(0);
}

// Runs c-ares' `parse` on an answer and `take` on each record of the list it returns. The status
// is ARES_SUCCESS with at least one record, ARES_ENODATA with none, ARES_EBADRESP if the answer
// did not parse.
template <class Node, class Parse, class Take>
int parse_records(const unsigned char* answer, int answer_bytes, Parse parse, Take take) {
    Node* head = nullptr;
    int status = parse(answer, answer_bytes, &head);
    bool any = false;
    for (const Node* node = head; status == ARES_SUCCESS && node != nullptr; node = node->next) {
        take(*node);
        any = true;
    }
    if (head != nullptr) {
        ares_free_data(head);
    }
    if (status != ARES_SUCCESS && status != ARES_ENODATA) {
        return ARES_EBADRESP;
    }
    return status == ARES_SUCCESS && !any ? ARES_ENODATA : status;
}

MxLookup build_mx_lookup(const std::string& domain, int status, const unsigned char* answer,
                         int answer_bytes) {
    MxLookup lookup;
    lookup.domain = domain;
    lookup.authenticated = authenticated_answer(status, answer, answer_bytes);
    const std::string label = fmt::format("DNS lookup of MX for {}", domain);
    if (status == ARES_SUCCESS) {
        status = parse_records<ares_mx_reply>(
            answer, answer_bytes, ares_parse_mx_reply, [&](const ares_mx_reply& node) {
                lookup.records.push_back(MxRecord{node.priority, mx_target(node.host)});
            });
    }
    lookup.outcome = outcome_for(status);
    if (lookup.outcome != DnsOutcome::found && lookup.outcome != DnsOutcome::no_data) {
        lookup.authenticated = false;
    }
    if (status == ARES_SUCCESS) {
        lookup.reason = fmt::format("{}: {} records", label, lookup.records.size());
        lookup.ttl_s = answer_ttl_s(answer, answer_bytes);
    } else {
        lookup.records.clear();
        lookup.reason = label + failure_suffix(status, "MX");
    }
    return lookup;
}

TxtLookup build_txt_lookup(const std::string& name, int status, const unsigned char* answer,
                           int answer_bytes) {
    TxtLookup lookup;
    lookup.name = name;
    const std::string label = fmt::format("DNS lookup of TXT for {}", name);
    if (status == ARES_SUCCESS) {
        status = parse_records<ares_txt_ext>(
            answer, answer_bytes, ares_parse_txt_reply_ext, [&](const ares_txt_ext& node) {
                // A record is one or more character-strings; record_start marks the first.
                if (node.record_start != 0 || lookup.records.empty()) {
                    lookup.records.emplace_back();
                }
                lookup.records.back().append(reinterpret_cast<const char*>(node.txt), node.length);
            });
    }
    lookup.outcome = outcome_for(status);
    if (status == ARES_SUCCESS) {
        lookup.reason = fmt::format("{}: {} records", label, lookup.records.size());
    } else {
        lookup.records.clear();
        lookup.reason = label + failure_suffix(status, "TXT");
    }
    return lookup;
}

std::string_view address_type(AddressFamilies families) {
    switch (families) {
        case AddressFamilies::ipv4:
            return "A";
        case AddressFamilies::ipv6:
            return "AAAA";
        case AddressFamilies::both:
            return "A/AAAA";
    }
    RELAY_ASSERT(false);
}

// The answer for one family: a c-ares status (ARES_EBADRESP once parsing failed) and addresses.
struct FamilyAnswer {
    int status = ARES_SUCCESS;
    std::vector<IpAddress> addresses;
    std::uint32_t ttl_s = 0;
    bool authenticated = false;
};

// Parses an A (ares_addrttl) or AAAA (ares_addr6ttl) answer into `buffer`'s records.
template <typename Record>
FamilyAnswer parse_family_answer(int status, const unsigned char* answer, int answer_bytes,
                                 std::vector<Record>& buffer) {
    constexpr bool ipv4 = std::is_same_v<Record, ares_addrttl>;
    FamilyAnswer parsed;
    parsed.status = status;
    parsed.authenticated = authenticated_answer(status, answer, answer_bytes);
    if (status != ARES_SUCCESS) {
        return parsed;
    }
    int count = static_cast<int>(buffer.size());
    if constexpr (ipv4) {
        parsed.status = ares_parse_a_reply(answer, answer_bytes, nullptr, buffer.data(), &count);
    } else {
        parsed.status = ares_parse_aaaa_reply(answer, answer_bytes, nullptr, buffer.data(), &count);
    }
    if (parsed.status == ARES_SUCCESS && count == 0) {
        parsed.status = ARES_ENODATA;
    } else if (parsed.status != ARES_SUCCESS && parsed.status != ARES_ENODATA) {
        parsed.status = ARES_EBADRESP;
    }
    for (int i = 0; parsed.status == ARES_SUCCESS && i < count; ++i) {
        const Record& record = buffer[static_cast<std::size_t>(i)];
        if constexpr (ipv4) {
            std::array<std::uint8_t, 4> bytes{};
            std::memcpy(bytes.data(), &record.ipaddr, bytes.size());
            parsed.addresses.push_back(IpAddress::ipv4(bytes));
        } else {
            std::array<std::uint8_t, 16> bytes{};
            std::memcpy(bytes.data(), &record.ip6addr, bytes.size());
            parsed.addresses.push_back(IpAddress::ipv6(bytes));
        }
        const auto ttl = static_cast<std::uint32_t>(std::max(record.ttl, 0));
        parsed.ttl_s = i == 0 ? ttl : std::min(parsed.ttl_s, ttl);
    }
    return parsed;
}

// The status that speaks for an address lookup without addresses: a name that does not exist
// beats a failure (the answer is authoritative), a failure beats a garbled answer, which beats
// "no records".
int combined_failure_status(int ipv4_status, int ipv6_status) {
    const int ranked[] = {ARES_ENOTFOUND, ARES_EBADNAME};
    for (const int status : ranked) {
        if (ipv4_status == status || ipv6_status == status) {
            return status;
        }
    }
    for (const int status : {ipv4_status, ipv6_status}) {
        if (outcome_for(status) == DnsOutcome::temporary_failure) {
            return status;
        }
    }
    if (ipv4_status == ARES_EBADRESP || ipv6_status == ARES_EBADRESP) {
        return ARES_EBADRESP;
    }
    return ARES_ENODATA;
}

AddressLookup build_address_lookup(const std::string& host, AddressFamilies families,
                                   FamilyAnswer ipv4, FamilyAnswer ipv6) {
    const bool want_ipv4 = families != AddressFamilies::ipv6;
    const bool want_ipv6 = families != AddressFamilies::ipv4;
    // A family that was not asked for counts as "no records".
    const int ipv4_status = want_ipv4 ? ipv4.status : ARES_ENODATA;
    const int ipv6_status = want_ipv6 ? ipv6.status : ARES_ENODATA;
    const std::string_view type = address_type(families);
    const std::string label = fmt::format("DNS lookup of {} for {}", type, host);

    AddressLookup lookup;
    lookup.host = host;
    lookup.addresses = std::move(ipv4.addresses);
    lookup.addresses.insert(lookup.addresses.end(), ipv6.addresses.begin(), ipv6.addresses.end());
    if (lookup.addresses.empty()) {
        const int status = combined_failure_status(ipv4_status, ipv6_status);
        lookup.outcome = outcome_for(status);
        lookup.reason = label + failure_suffix(status, type);
        return lookup;
    }
    lookup.outcome = DnsOutcome::found;
    lookup.reason = fmt::format("{}: {} addresses", label, lookup.addresses.size());
    const bool ipv4_found = ipv4_status == ARES_SUCCESS;
    const bool ipv6_found = ipv6_status == ARES_SUCCESS;
    if (ipv4_found && ipv6_found) {
        lookup.ttl_s = std::min(ipv4.ttl_s, ipv6.ttl_s);
    } else {
        lookup.ttl_s = ipv4_found ? ipv4.ttl_s : ipv6.ttl_s;
    }
    lookup.authenticated =
        (!ipv4_found || ipv4.authenticated) && (!ipv6_found || ipv6.authenticated);
    // A partial answer is still an answer; say what is missing for whoever reads the log.
    if (ipv4_status != ARES_SUCCESS && ipv4_status != ARES_ENODATA) {
        lookup.reason += "; A lookup" + failure_suffix(ipv4_status, "A");
    }
    if (ipv6_status != ARES_SUCCESS && ipv6_status != ARES_ENODATA) {
        lookup.reason += "; AAAA lookup" + failure_suffix(ipv6_status, "AAAA");
    }
    return lookup;
}

TlsaLookup build_tlsa_lookup(const std::string& host, std::uint16_t port, int status,
                             const unsigned char* answer, int answer_bytes) {
    TlsaLookup lookup;
    lookup.host = host;
    lookup.port = port;
    lookup.authenticated = authenticated_answer(status, answer, answer_bytes);
    const std::string label = fmt::format("DNS lookup of TLSA for _{}._tcp.{}", port, host);
    if (status == ARES_SUCCESS) {
        std::optional<std::vector<tls::TlsaRecord>> records = parse_tlsa_answer(
            std::span<const std::uint8_t>(answer, static_cast<std::size_t>(answer_bytes)));
        if (!records) {
            status = ARES_EBADRESP;
        } else if (records->empty()) {
            status = ARES_ENODATA;
        } else {
            lookup.records = std::move(*records);
        }
    }
    lookup.outcome = outcome_for(status);
    if (lookup.outcome != DnsOutcome::found && lookup.outcome != DnsOutcome::no_data &&
        lookup.outcome != DnsOutcome::no_domain) {
        lookup.authenticated = false;
    }
    if (status == ARES_SUCCESS) {
        lookup.reason = fmt::format("{}: {} records", label, lookup.records.size());
        lookup.ttl_s = answer_ttl_s(answer, answer_bytes);
    } else {
        lookup.reason = label + failure_suffix(status, "TLSA");
    }
    return lookup;
}

struct ServerParse {
    std::string_view host;
    std::string_view port;
};

// "IP", "IP:PORT", "[IPv6]:PORT", "[IPv6]" or a bare IPv6 address.
std::optional<ServerParse> split_server(std::string_view text) {
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return std::nullopt;
        }
        return ServerParse{text.substr(1, close - 1), rest.empty() ? rest : rest.substr(1)};
    }
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
        return ServerParse{text.substr(0, colon), text.substr(colon + 1)};
    }
    return ServerParse{text, {}};
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty()) {
        return dns_port_default;
    }
    if (text.size() > 5) {
        return std::nullopt;
    }
    std::uint32_t port = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        port = port * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (port == 0 || port > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(port);
}

std::optional<ares_addr_port_node> parse_server(std::string_view text) {
    const std::optional<ServerParse> parts = split_server(text);
    if (!parts) {
        return std::nullopt;
    }
    const std::optional<IpAddress> address = IpAddress::parse(parts->host);
    const std::optional<std::uint16_t> port = parse_port(parts->port);
    if (!address || !port) {
        return std::nullopt;
    }
    ares_addr_port_node node{};
    node.family = address->is_ipv4() ? AF_INET : AF_INET6;
    if (address->is_ipv4()) {
        std::memcpy(&node.addr.addr4, address->bytes().data(), 4);
    } else {
        std::memcpy(&node.addr.addr6, address->bytes().data(), 16);
    }
    node.udp_port = *port;
    node.tcp_port = *port;
    return node;
}

Status check_bound(std::string_view name, std::uint32_t value, std::uint32_t minimum,
                   std::uint32_t maximum) {
    if (value < minimum || value > maximum) {
        return Error{fmt::format("resolver option {} = {} is outside {}..{}", name, value, minimum,
                                 maximum)};
    }
    return {};
}

Status check_options(const ResolverOptions& options) {
    const struct {
        std::string_view name;
        std::uint32_t value, minimum, maximum;
    } bounds[] = {
        {"timeout_ms", options.timeout_ms, 1, timeout_ms_max},
        {"tries", options.tries, 1, tries_max},
        {"lookups_in_flight_max", options.lookups_in_flight_max, 1, lookups_in_flight_max_max},
        {"lookups_waiting_max", options.lookups_waiting_max, 0, lookups_waiting_max_max},
        {"addresses_per_family_max", options.addresses_per_family_max, 1,
         addresses_per_family_max_max},
        {"udp_payload_bytes_max", options.udp_payload_bytes_max, udp_payload_bytes_min,
         udp_payload_bytes_max_max},
    };
    for (const auto& bound : bounds) {
        Status status = check_bound(bound.name, bound.value, bound.minimum, bound.maximum);
        if (!status) {
            return status;
        }
    }
    return {};
}

}  // namespace

struct Resolver::Impl {
    enum class Kind : std::uint8_t { mx, addresses, tlsa, txt };

    struct Request {
        LookupId id = 0;
        Kind kind = Kind::mx;
        AddressFamilies families = AddressFamilies::both;
        std::string name;  // normalised; for TLSA the host, without _PORT._tcp
        std::uint16_t port = 25;
        MxCallback mx_callback;
        AddressCallback address_callback;
        TlsaCallback tlsa_callback;
        TxtCallback txt_callback;
    };

    // One lookup in c-ares. Slots never move (the vector is sized once): c-ares holds pointers.
    struct Slot {
        Impl* owner = nullptr;
        bool busy = false;
        bool cancelled = false;
        int queries_outstanding = 0;
        Request request;
        MxLookup mx;
        TxtLookup txt;
        FamilyAnswer ipv4;
        FamilyAnswer ipv6;
        TlsaLookup tlsa;
    };

    struct Completion {
        Request request;
        std::variant<MxLookup, AddressLookup, TlsaLookup, TxtLookup> result;
    };

    Impl(const ResolverOptions& options, FdWatcher& watcher);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    Status start_channel(const std::vector<ares_addr_port_node>& servers);
    Result<LookupId> submit(Request request, std::string_view raw_name);
    static Completion finish_invalid_name(Request request, std::string_view raw_name);
    void start(Request request);
    void start_waiting();
    void finish_query(Slot& slot);
    void release(Slot& slot);
    bool cancel(LookupId id);
    void cancel_all();
    void process(int read_fd, int write_fd);
    void deliver_completions();
    std::size_t accepted() const {
        return (slots_.size() - free_slots_.size()) + waiting_.size() + completions_.size();
    }
    void assert_owner_thread() const { RELAY_ASSERT(std::this_thread::get_id() == owner_thread_); }

    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable);
    // The record one c-ares query asks for; an address lookup sends an A and an AAAA query.
    enum class Query : std::uint8_t { mx, txt, a, aaaa, tlsa };
    template <Query query>
    static void on_answer(void* arg, int status, int timeouts, unsigned char* answer,
                          int answer_bytes);
    void store_answer(Query query, Slot& slot, int status, const unsigned char* answer,
                      int answer_bytes);
    void send_query(const std::string& name, int type, ares_callback callback, Slot& slot);

    FdWatcher& watcher_;
    const ResolverOptions options_;
    ares_channel channel_ = nullptr;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::deque<Request> waiting_;
    std::deque<Completion> completions_;
    std::vector<ares_addrttl> ipv4_buffer_;
    std::vector<ares_addr6ttl> ipv6_buffer_;
    LookupId next_id_ = 1;
    std::size_t cancelled_in_flight_ = 0;
    bool delivering_ = false;
    bool destroying_ = false;
    const std::thread::id owner_thread_ = std::this_thread::get_id();
};

Resolver::Impl::Impl(const ResolverOptions& options, FdWatcher& watcher)
    : watcher_(watcher),
      options_(options),
      slots_(options.lookups_in_flight_max),
      ipv4_buffer_(options.addresses_per_family_max),
      ipv6_buffer_(options.addresses_per_family_max) {
    free_slots_.reserve(slots_.size());
    for (std::size_t i = slots_.size(); i > 0; --i) {
        slots_[i - 1].owner = this;
        free_slots_.push_back(static_cast<std::uint32_t>(i - 1));
    }
}

Resolver::Impl::~Impl() {
    RELAY_ASSERT(!delivering_);  // a callback must not destroy its resolver
    destroying_ = true;
    if (channel_ != nullptr) {
        // Calls every pending query's callback with ARES_EDESTRUCTION (ignored: destroying_) and
        // tells the watcher to stop watching each socket before closing it.
        ares_destroy(channel_);
    }
}

Status Resolver::Impl::start_channel(const std::vector<ares_addr_port_node>& servers) {
    ares_options ares_settings{};
    ares_settings.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
    ares_settings.timeout = static_cast<int>(options_.timeout_ms);
    ares_settings.tries = static_cast<int>(options_.tries);
    ares_settings.ednspsz = static_cast<int>(options_.udp_payload_bytes_max);
    ares_settings.sock_state_cb = &Impl::on_socket_state;
    ares_settings.sock_state_cb_data = this;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ |
                     ARES_OPT_SOCK_STATE_CB;
    int status = ares_init_options(&channel_, &ares_settings, mask);
    if (status != ARES_SUCCESS) {
        channel_ = nullptr;
        return Error{fmt::format("cannot start the DNS resolver: {}", ares_strerror(status))};
    }
    if (servers.empty()) {
        return {};
    }
    std::vector<ares_addr_port_node> chain = servers;
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
        chain[i].next = &chain[i + 1];
    }
    chain.back().next = nullptr;
    status = ares_set_servers_ports(channel_, chain.data());
    if (status != ARES_SUCCESS) {
        return Error{fmt::format("cannot set the DNS servers: {}", ares_strerror(status))};
    }
    return {};
}

void Resolver::Impl::on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->watcher_.watch(fd, readable != 0, writable != 0);
}

// c-ares calls this once per query, also for the queries it fails while the channel is destroyed.
template <Resolver::Impl::Query query>
void Resolver::Impl::on_answer(void* arg, int status, int /*timeouts*/, unsigned char* answer,
                               int answer_bytes) {
    Slot& slot = *static_cast<Slot*>(arg);
    Impl& impl = *slot.owner;
    if (impl.destroying_) {
        return;
    }
    if (!slot.cancelled) {
        impl.store_answer(query, slot, answer_status(status, answer, answer_bytes), answer,
                          answer_bytes);
    }
    impl.finish_query(slot);
}

void Resolver::Impl::store_answer(Query query, Slot& slot, int status, const unsigned char* answer,
                                  int answer_bytes) {
    const std::string& name = slot.request.name;
    switch (query) {
        case Query::mx:
            slot.mx = build_mx_lookup(name, status, answer, answer_bytes);
            return;
        case Query::txt:
            slot.txt = build_txt_lookup(name, status, answer, answer_bytes);
            return;
        case Query::a:
            slot.ipv4 = parse_family_answer(status, answer, answer_bytes, ipv4_buffer_);
            return;
        case Query::aaaa:
            slot.ipv6 = parse_family_answer(status, answer, answer_bytes, ipv6_buffer_);
            return;
        case Query::tlsa:
            slot.tlsa = build_tlsa_lookup(name, slot.request.port, status, answer, answer_bytes);
            return;
    }
}

// What ares_query does, plus the AD flag in the query (RFC 6840 §5.7).
void Resolver::Impl::send_query(const std::string& name, int type, ares_callback callback,
                                Slot& slot) {
    unsigned char* query = nullptr;
    int query_bytes = 0;
    const int status = ares_create_query(name.c_str(), ns_c_in, type, 0, 1, &query, &query_bytes,
                                         static_cast<int>(options_.udp_payload_bytes_max));
    if (status != ARES_SUCCESS) {
        callback(&slot, status, 0, nullptr, 0);
        return;
    }
    query[3] |= query_flag_authenticated_data;
    ares_send(channel_, query, query_bytes, callback, &slot);
    ares_free_string(query);
}

void Resolver::Impl::finish_query(Slot& slot) {
    RELAY_ASSERT(slot.busy && slot.queries_outstanding > 0);
    if (--slot.queries_outstanding > 0) {
        return;
    }
    if (slot.cancelled) {
        RELAY_ASSERT(cancelled_in_flight_ > 0);
        --cancelled_in_flight_;
    } else if (slot.request.kind == Kind::mx) {
        completions_.push_back(Completion{std::move(slot.request), std::move(slot.mx)});
    } else if (slot.request.kind == Kind::tlsa) {
        completions_.push_back(Completion{std::move(slot.request), std::move(slot.tlsa)});
    } else if (slot.request.kind == Kind::txt) {
        completions_.push_back(Completion{std::move(slot.request), std::move(slot.txt)});
    } else {
        AddressLookup lookup = build_address_lookup(slot.request.name, slot.request.families,
                                                    std::move(slot.ipv4), std::move(slot.ipv6));
        completions_.push_back(Completion{std::move(slot.request), std::move(lookup)});
    }
    release(slot);
}

void Resolver::Impl::release(Slot& slot) {
    slot.busy = false;
    slot.cancelled = false;
    slot.request = Request{};
    slot.mx = MxLookup{};
    slot.txt = TxtLookup{};
    slot.ipv4 = FamilyAnswer{};
    slot.ipv6 = FamilyAnswer{};
    slot.tlsa = TlsaLookup{};
    free_slots_.push_back(static_cast<std::uint32_t>(&slot - slots_.data()));
}

void Resolver::Impl::start(Request request) {
    RELAY_ASSERT(!free_slots_.empty());
    Slot& slot = slots_[free_slots_.back()];
    free_slots_.pop_back();
    RELAY_ASSERT(!slot.busy);
    slot.busy = true;
    slot.request = std::move(request);
    if (slot.request.kind == Kind::mx) {
        slot.queries_outstanding = 1;
        send_query(slot.request.name, ns_t_mx, &Impl::on_answer<Query::mx>, slot);
        return;
    }
    if (slot.request.kind == Kind::tlsa) {
        slot.queries_outstanding = 1;
        send_query(fmt::format("_{}._tcp.{}", slot.request.port, slot.request.name), dns_type_tlsa,
                   &Impl::on_answer<Query::tlsa>, slot);
        return;
    }
    if (slot.request.kind == Kind::txt) {
        slot.queries_outstanding = 1;
        send_query(slot.request.name, ns_t_txt, &Impl::on_answer<Query::txt>, slot);
        return;
    }
    const bool want_ipv4 = slot.request.families != AddressFamilies::ipv6;
    const bool want_ipv6 = slot.request.families != AddressFamilies::ipv4;
    // Counted before either query goes out: c-ares may finish the first one synchronously, and
    // the slot must stay busy until both are done.
    slot.queries_outstanding = (want_ipv4 ? 1 : 0) + (want_ipv6 ? 1 : 0);
    if (want_ipv4) {
        send_query(slot.request.name, ns_t_a, &Impl::on_answer<Query::a>, slot);
    }
    if (want_ipv6) {
        send_query(slot.request.name, ns_t_aaaa, &Impl::on_answer<Query::aaaa>, slot);
    }
}

void Resolver::Impl::start_waiting() {
    while (!waiting_.empty() && !free_slots_.empty()) {
        Request request = std::move(waiting_.front());
        waiting_.pop_front();
        start(std::move(request));
    }
}

Resolver::Impl::Completion Resolver::Impl::finish_invalid_name(Request request,
                                                               std::string_view raw_name) {
    const std::string printable = printable_dns_name(raw_name);
    if (request.kind == Kind::mx) {
        MxLookup lookup = build_mx_lookup(printable, ARES_EBADNAME, nullptr, 0);
        return Completion{std::move(request), std::move(lookup)};
    }
    if (request.kind == Kind::tlsa) {
        TlsaLookup lookup = build_tlsa_lookup(printable, request.port, ARES_EBADNAME, nullptr, 0);
        lookup.host = std::string(raw_name);  // exactly as given: the caller matches on it
        return Completion{std::move(request), std::move(lookup)};
    }
    if (request.kind == Kind::txt) {
        TxtLookup lookup = build_txt_lookup(printable, ARES_EBADNAME, nullptr, 0);
        return Completion{std::move(request), std::move(lookup)};
    }
    AddressLookup lookup =
        build_address_lookup(printable, request.families, FamilyAnswer{ARES_EBADNAME, {}},
                             FamilyAnswer{ARES_EBADNAME, {}});
    lookup.host = std::string(raw_name);  // exactly as given: the caller matches on it
    return Completion{std::move(request), std::move(lookup)};
}

Result<LookupId> Resolver::Impl::submit(Request request, std::string_view raw_name) {
    assert_owner_thread();
    const std::string_view type = request.kind == Kind::mx     ? "MX"
                                  : request.kind == Kind::tlsa ? "TLSA"
                                  : request.kind == Kind::txt  ? "TXT"
                                                               : address_type(request.families);
    if (accepted() >= std::size_t{options_.lookups_in_flight_max} + options_.lookups_waiting_max) {
        return Error{fmt::format("DNS lookup of {} for {} not started: {} lookups already queued",
                                 type, printable_dns_name(raw_name), accepted())};
    }
    request.id = next_id_++;
    const LookupId id = request.id;
    std::optional<std::string> name = normalize_dns_name(raw_name);
    if (!name) {
        // Finished without DNS; delivered from the loop like any other completion.
        completions_.push_back(finish_invalid_name(std::move(request), raw_name));
        return id;
    }
    request.name = std::move(*name);
    if (waiting_.empty() && !free_slots_.empty()) {
        start(std::move(request));
    } else {
        waiting_.push_back(std::move(request));
    }
    return id;
}

bool Resolver::Impl::cancel(LookupId id) {
    assert_owner_thread();
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
        if (it->id == id) {
            waiting_.erase(it);
            return true;
        }
    }
    for (auto it = completions_.begin(); it != completions_.end(); ++it) {
        if (it->request.id == id) {
            completions_.erase(it);
            return true;
        }
    }
    for (Slot& slot : slots_) {
        if (slot.busy && !slot.cancelled && slot.request.id == id) {
            // The query stays in c-ares (it cannot cancel one query); its answer is ignored.
            slot.cancelled = true;
            slot.request.mx_callback = nullptr;
            slot.request.address_callback = nullptr;
            slot.request.tlsa_callback = nullptr;
            slot.request.txt_callback = nullptr;
            ++cancelled_in_flight_;
            return true;
        }
    }
    return false;
}

void Resolver::Impl::cancel_all() {
    assert_owner_thread();
    waiting_.clear();
    completions_.clear();
    for (Slot& slot : slots_) {
        if (slot.busy && !slot.cancelled) {
            slot.cancelled = true;
            slot.request.mx_callback = nullptr;
            slot.request.address_callback = nullptr;
            slot.request.tlsa_callback = nullptr;
            slot.request.txt_callback = nullptr;
            ++cancelled_in_flight_;
        }
    }
    // Ends every query at once through the callbacks (ARES_ECANCELLED), freeing the slots, and
    // closes the sockets.
    ares_cancel(channel_);
    RELAY_ASSERT(free_slots_.size() == slots_.size() && cancelled_in_flight_ == 0);
}

void Resolver::Impl::process(int read_fd, int write_fd) {
    assert_owner_thread();
    RELAY_ASSERT(!delivering_);
    ares_process_fd(channel_, read_fd, write_fd);
    start_waiting();
    deliver_completions();
}

void Resolver::Impl::deliver_completions() {
    assert_owner_thread();
    RELAY_ASSERT(!delivering_);
    delivering_ = true;
    // Only what is queued now: completions that callbacks cause wait for the next turn, which
    // bounds this loop and keeps one turn's latency bounded.
    std::size_t remaining = completions_.size();
    while (remaining > 0 && !completions_.empty()) {
        --remaining;
        Completion completion = std::move(completions_.front());
        completions_.pop_front();
        if (auto* mx = std::get_if<MxLookup>(&completion.result)) {
            completion.request.mx_callback(std::move(*mx));
        } else if (auto* tlsa = std::get_if<TlsaLookup>(&completion.result)) {
            completion.request.tlsa_callback(std::move(*tlsa));
        } else if (auto* txt = std::get_if<TxtLookup>(&completion.result)) {
            completion.request.txt_callback(std::move(*txt));
        } else {
            completion.request.address_callback(
                std::move(std::get<AddressLookup>(completion.result)));
        }
    }
    delivering_ = false;
}

Result<Resolver> Resolver::create(const ResolverOptions& options, FdWatcher& watcher) {
    Status checked = check_options(options);
    if (!checked) {
        return checked.error();
    }
    std::vector<ares_addr_port_node> servers;
    for (const std::string& server : options.servers) {
        std::optional<ares_addr_port_node> node = parse_server(server);
        if (!node) {
            return Error{fmt::format("DNS server '{}' is not IP, IP:PORT or [IPv6]:PORT",
                                     printable_dns_name(server))};
        }
        servers.push_back(*node);
    }
    const int init_status = library_init_status();
    if (init_status != ARES_SUCCESS) {
        return Error{fmt::format("cannot initialise c-ares: {}", ares_strerror(init_status))};
    }
    auto impl = std::make_unique<Impl>(options, watcher);
    Status started = impl->start_channel(servers);
    if (!started) {
        return started.error();
    }
    return Resolver(std::move(impl));
}

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::Resolver(Resolver&&) noexcept = default;
Resolver& Resolver::operator=(Resolver&&) noexcept = default;
Resolver::~Resolver() = default;

Result<LookupId> Resolver::lookup_mx(std::string_view domain, MxCallback callback) {
    RELAY_ASSERT(callback);
    Impl::Request request;
    request.kind = Impl::Kind::mx;
    request.mx_callback = std::move(callback);
    return impl_->submit(std::move(request), domain);
}

Result<LookupId> Resolver::lookup_txt(std::string_view name, TxtCallback callback) {
    RELAY_ASSERT(callback);
    Impl::Request request;
    request.kind = Impl::Kind::txt;
    request.txt_callback = std::move(callback);
    return impl_->submit(std::move(request), name);
}

Result<LookupId> Resolver::lookup_addresses(std::string_view host, AddressFamilies families,
                                            AddressCallback callback) {
    RELAY_ASSERT(callback);
    Impl::Request request;
    request.kind = Impl::Kind::addresses;
    request.families = families;
    request.address_callback = std::move(callback);
    return impl_->submit(std::move(request), host);
}

Result<LookupId> Resolver::lookup_tlsa(std::string_view host, std::uint16_t port,
                                       TlsaCallback callback) {
    RELAY_ASSERT(callback);
    Impl::Request request;
    request.kind = Impl::Kind::tlsa;
    request.port = port;
    request.tlsa_callback = std::move(callback);
    return impl_->submit(std::move(request), host);
}

bool Resolver::cancel(LookupId id) {
    return impl_->cancel(id);
}

void Resolver::cancel_all() {
    impl_->cancel_all();
}

void Resolver::on_ready(int fd, bool readable, bool writable) {
    impl_->process(readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
}

void Resolver::on_timeout() {
    impl_->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void Resolver::deliver_completions() {
    impl_->deliver_completions();
}

std::optional<std::chrono::milliseconds> Resolver::next_timeout() const {
    impl_->assert_owner_thread();
    if (!impl_->completions_.empty()) {
        return std::chrono::milliseconds(0);
    }
    timeval left{};
    if (ares_timeout(impl_->channel_, nullptr, &left) == nullptr) {
        return std::nullopt;
    }
    // Rounded up: waking a little late costs nothing, waking early spins the loop.
    const std::int64_t microseconds = std::int64_t{left.tv_sec} * 1'000'000 + left.tv_usec;
    return std::chrono::milliseconds((microseconds + 999) / 1000);
}

std::size_t Resolver::lookups_outstanding() const {
    impl_->assert_owner_thread();
    return impl_->accepted() - impl_->cancelled_in_flight_;
}

}  // namespace relay::delivery
