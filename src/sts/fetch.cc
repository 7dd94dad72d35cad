// fetch.cc -- the MTA-STS policy GET on libcurl.
//
// Thread: the policy service's (blocking, bounded by timeout_s). Untrusted bytes: the HTTPS
// answer; the body is cut off past policy_bytes_max (the transfer is aborted, not stored).
// RFC 8461 §3.3: HTTPS with a certificate valid for mta-sts.<domain> (RFC 6125), no redirects,
// media type text/plain, HTTP 200 only.
#include "relay/sts/fetch.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "relay/sts/policy.h"

namespace relay::sts {
namespace {

struct Body {
    std::string bytes;
    bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    Body& body = *static_cast<Body*>(user);
    std::size_t bytes = size * count;
    if (body.bytes.size() + bytes > policy_bytes_max) {
        body.too_large = true;
        return 0;  // aborts the transfer
    }
    body.bytes.append(data, bytes);
    return bytes;
}

bool certificate_error(CURLcode code) {
    return code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
           code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_ISSUER_ERROR ||
           code == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

FetchOutcome failed(ResultType type, std::string reason) {
    FetchOutcome outcome;
    outcome.failure = type;
    outcome.reason = std::move(reason);
    return outcome;
}

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

FetchOutcome fetch_policy_text(const FetchRequest& request) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    const std::string host = "mta-sts." + request.domain;
    if (request.addresses.empty()) {
        return failed(ResultType::sts_policy_fetch_error, host + " has no address");
    }
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) {
        return failed(ResultType::sts_policy_fetch_error, "cannot start an HTTPS client");
    }
    std::string pin = host + ":" + std::to_string(request.port) + ":";
    for (std::size_t index = 0; index < request.addresses.size(); ++index) {
        const std::string& address = request.addresses[index];
        bool ipv6 = address.find(':') != std::string::npos;
        pin += (index == 0 ? "" : ",") + (ipv6 ? "[" + address + "]" : address);
    }
    std::unique_ptr<curl_slist, ListDeleter> resolve(curl_slist_append(nullptr, pin.c_str()));
    std::string url =
        "https://" + host + ":" + std::to_string(request.port) + "/.well-known/mta-sts.txt";
    Body body;
    char error_text[CURL_ERROR_SIZE] = {};
    CURL* handle = curl.get();
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_RESOLVE, resolve.get());
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(handle, CURLOPT_CAINFO, request.ca_file.c_str());
    curl_easy_setopt(handle, CURLOPT_CAPATH,
                     static_cast<const char*>(nullptr));  // ca_file alone, as for delivery
    curl_easy_setopt(handle, CURLOPT_TIMEOUT, static_cast<long>(request.timeout_s));
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, static_cast<long>(request.timeout_s));
    curl_easy_setopt(handle, CURLOPT_MAXFILESIZE, static_cast<long>(policy_bytes_max));
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "relayd (MTA-STS)");
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_text);
    CURLcode code = curl_easy_perform(handle);
    std::string what = "fetching " + url;
    if (body.too_large || code == CURLE_FILESIZE_EXCEEDED) {
        return failed(ResultType::sts_policy_invalid,
                      what + ": larger than " + std::to_string(policy_bytes_max) + " octets");
    }
    if (code != CURLE_OK) {
        std::string detail = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
        return failed(certificate_error(code) ? ResultType::sts_webpki_invalid
                                              : ResultType::sts_policy_fetch_error,
                      what + ": " + detail);
    }
    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        return failed(ResultType::sts_policy_fetch_error,
                      what + ": HTTP status " + std::to_string(status));
    }
    char* type = nullptr;
    curl_easy_getinfo(handle, CURLINFO_CONTENT_TYPE, &type);
    if (type == nullptr || std::string_view(type).substr(0, 10) != "text/plain") {
        return failed(ResultType::sts_policy_invalid, what + ": media type is not text/plain");
    }
    FetchOutcome outcome;
    outcome.ok = true;
    outcome.body = std::move(body.bytes);
    return outcome;
}

}  // namespace relay::sts
