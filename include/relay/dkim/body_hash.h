// body_hash.h -- the DKIM body hash (RFC 6376 §3.7, "bh="), computed while the body streams by.
//
// A BodyHasher canonicalizes the body (RFC 6376 §3.4.3 simple, §3.4.4 relaxed) on the fly and
// feeds the canonical bytes straight into SHA-256: it never builds a canonical copy of the body.
// The body may arrive in chunks split anywhere (inside a CRLF, a whitespace run, the trailing
// empty lines); the hash does not depend on the split. Between chunks it keeps only what the next
// bytes decide: a count of held line ends, whether a whitespace run is held, whether a CR is held.
//
// It is a message::BodyObserver, so the message pass feeds it in the same pass that stores the
// data. Lines end only at CRLF: a lone CR or lone LF is an ordinary octet of the line.
//
// Untrusted bytes: the body as the client sent it; any input is hashed, none is refused.
// Thread: one hasher per message, owned by the thread that feeds it. Never: allocate, block,
// copy the body beyond a fixed staging buffer for short pieces, or read outside the given bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "relay/message/message_pass.h"

namespace relay::dkim {

// RFC 6376 §3.4: "simple" keeps the bytes; "relaxed" reduces whitespace and trailing empty lines.
enum class Canonicalization : std::uint8_t { simple, relaxed };

using Sha256Digest = std::array<std::uint8_t, 32>;

class BodyHasher final : public message::BodyObserver {
  public:
    explicit BodyHasher(Canonicalization canonicalization);
    ~BodyHasher();
    BodyHasher(const BodyHasher&) = delete;
    BodyHasher& operator=(const BodyHasher&) = delete;

    // The next bytes of the body, in order.
    void body(std::string_view bytes) override;
    // Ends the body and returns SHA-256 of its canonical form. Once only; the hasher is then
    // spent (no more body() or finish()).
    Sha256Digest finish();

    // Canonical octets hashed so far (those held back are not counted yet).
    std::uint64_t canonical_bytes() const { return canonical_bytes_; }

  private:
    void feed(const char* data, std::size_t size);
    void update(const char* data, std::size_t size);
    void flush_staging();
    void feed_line_ends(std::uint64_t count);
    void flush_held();
    void slow(const char* begin, const char* end);
    void fast_relaxed(const char* begin, const char* end);

    // wolfCrypt's wc_Sha256, kept in place (no allocation); its size is checked in the .cc.
    alignas(16) unsigned char sha_[512] = {};
    // Short canonical pieces (the SP that replaces a whitespace run, the text between two
    // changes) are gathered here and reach SHA-256 together: one call per piece costs more than
    // hashing the piece. A fixed size, whatever the body.
    static constexpr std::size_t staging_bytes_max = 4096;
    static constexpr std::size_t direct_bytes_min = 1024;  // longer pieces skip the staging
    char staging_[staging_bytes_max] = {};
    std::size_t staged_bytes_ = 0;
    Canonicalization canonicalization_;
    bool finished_ = false;
    bool held_cr_ = false;              // a CR that may begin a CRLF
    bool held_whitespace_ = false;      // relaxed: a run of SP/HTAB not yet known to be inner
    bool content_seen_ = false;         // any octet other than line ends (and relaxed whitespace)
    std::uint64_t held_line_ends_ = 0;  // CRLFs after the last content octet
    std::uint64_t canonical_bytes_ = 0;
};

}  // namespace relay::dkim
