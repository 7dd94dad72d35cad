// lmdb_message_index.h -- the Message-ID index in the tenant store's LMDB environment.
//
//     sent          MESSAGE-ID -> "SENT_S QUEUE_ID\nRESOURCE\nSENDER_DOMAIN\nRCPT\nRCPT..."
//     sent_by_time  SENT_S (8 bytes big-endian) MESSAGE-ID -> ""
//
// The second database orders entries by age, so pruning walks from its start and stops at the
// first entry young enough; both change in the same transaction. Values are text (no field of
// an SMTP envelope holds a line break), readable with mdb_dump.
//
// Thread: like the store that owns it (one call at a time). The environment outlives it.
#pragma once

#include <lmdb.h>

#include <memory>

#include "lmdb_transaction.h"
#include "relay/store/message_index.h"

namespace relay::store::internal {

class LmdbMessageIndex final : public MessageIndex {
  public:
    static Result<std::unique_ptr<LmdbMessageIndex>> open(MDB_env* env);
    LmdbMessageIndex(MDB_env* env, MDB_dbi sent, MDB_dbi by_time)
        : env_(env), sent_(sent), by_time_(by_time) {}

    Status add_sent(std::span<const SentMessage> messages) override;
    Result<std::optional<SentMessage>> find_sent(std::string_view message_id) override;
    Result<std::uint64_t> prune_sent(std::uint64_t oldest_s, std::uint64_t entries_max) override;
    Result<std::uint64_t> sent_count() override;

  private:
    Result<Transaction> begin(bool write) const;

    MDB_env* env_;
    MDB_dbi sent_;
    MDB_dbi by_time_;
};

}  // namespace relay::store::internal
