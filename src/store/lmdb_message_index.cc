// lmdb_message_index.cc -- the Message-ID index as two LMDB databases (see
// lmdb_message_index.h): lookups by Message-ID, pruning by age.
//
// Thread: see lmdb_message_index.h. Blocks on the disk; never called on a worker.
#include "lmdb_message_index.h"

#include <charconv>

namespace relay::store::internal {
namespace {

std::string time_key(std::uint64_t sent_s, std::string_view message_id) {
    std::string key;
    key.reserve(8 + message_id.size());
    for (int shift = 56; shift >= 0; shift -= 8) {
        key.push_back(static_cast<char>((sent_s >> shift) & 0xff));
    }
    key.append(message_id);
    return key;
}

std::uint64_t time_of(std::string_view key) {
    std::uint64_t sent_s = 0;
    for (std::size_t index = 0; index < 8 && index < key.size(); ++index) {
        sent_s = (sent_s << 8) | static_cast<unsigned char>(key[index]);
    }
    return sent_s;
}

std::string encode(const SentMessage& message) {
    std::string value = std::to_string(message.sent_s) + " " + std::to_string(message.queue_id);
    for (std::string_view field :
         {std::string_view(message.resource), std::string_view(message.sender_domain)}) {
        value += '\n';
        value += field;
    }
    for (const std::string& recipient : message.recipients) {
        value += '\n';
        value += recipient;
    }
    return value;
}

std::optional<SentMessage> decode(std::string_view message_id, std::string_view value) {
    std::vector<std::string_view> lines;
    while (true) {
        std::size_t end = value.find('\n');
        lines.push_back(value.substr(0, end));
        if (end == std::string_view::npos) {
            break;
        }
        value.remove_prefix(end + 1);
    }
    if (lines.size() < 3) {
        return std::nullopt;
    }
    SentMessage message;
    message.message_id = std::string(message_id);
    std::string_view head = lines[0];
    std::size_t space = head.find(' ');
    if (space == std::string_view::npos ||
        std::from_chars(head.data(), head.data() + space, message.sent_s).ec != std::errc() ||
        std::from_chars(head.data() + space + 1, head.data() + head.size(), message.queue_id).ec !=
            std::errc()) {
        return std::nullopt;
    }
    message.resource = std::string(lines[1]);
    message.sender_domain = std::string(lines[2]);
    for (std::size_t index = 3; index < lines.size(); ++index) {
        message.recipients.emplace_back(lines[index]);
    }
    return message;
}

bool indexable(const SentMessage& message) {
    return !message.message_id.empty() && message.message_id.size() <= sent_message_id_bytes_max;
}

}  // namespace

Result<std::unique_ptr<LmdbMessageIndex>> LmdbMessageIndex::open(MDB_env* env) {
    MDB_txn* raw = nullptr;
    if (int code = mdb_txn_begin(env, nullptr, 0, &raw); code != 0) {
        return lmdb_error("cannot open the store", code);
    }
    Transaction txn(raw);
    MDB_dbi sent = 0;
    MDB_dbi by_time = 0;
    if (int code = mdb_dbi_open(txn.get(), "sent", MDB_CREATE, &sent); code != 0) {
        return lmdb_error("cannot open the Message-ID index", code);
    }
    if (int code = mdb_dbi_open(txn.get(), "sent_by_time", MDB_CREATE, &by_time); code != 0) {
        return lmdb_error("cannot open the Message-ID index", code);
    }
    if (Status committed = txn.commit(); !committed) {
        return committed.error();
    }
    return std::make_unique<LmdbMessageIndex>(env, sent, by_time);
}

Result<Transaction> LmdbMessageIndex::begin(bool write) const {
    return begin_transaction(env_, write);
}

Status LmdbMessageIndex::add_sent(std::span<const SentMessage> messages) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    for (const SentMessage& message : messages) {
        if (!indexable(message)) {
            continue;
        }
        auto existing = txn->find(sent_, message.message_id);
        if (!existing) {
            return existing.error();
        }
        if (existing.value()) {  // the same Message-ID again (a resent message): the newest wins
            if (auto old = decode(message.message_id, *existing.value())) {
                if (Status erased = txn->erase(by_time_, time_key(old->sent_s, old->message_id));
                    !erased) {
                    return erased;
                }
            }
        }
        if (Status put = txn->put(sent_, message.message_id, encode(message)); !put) {
            return put;
        }
        if (Status put = txn->put(by_time_, time_key(message.sent_s, message.message_id), "");
            !put) {
            return put;
        }
    }
    return txn->commit();
}

Result<std::optional<SentMessage>> LmdbMessageIndex::find_sent(std::string_view message_id) {
    if (message_id.empty() || message_id.size() > sent_message_id_bytes_max) {
        return std::optional<SentMessage>();
    }
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    auto value = txn->find(sent_, message_id);
    if (!value) {
        return value.error();
    }
    if (!value.value()) {
        return std::optional<SentMessage>();
    }
    return decode(message_id, *value.value());
}

Result<std::uint64_t> LmdbMessageIndex::sent_count() {
    auto txn = begin(false);
    if (!txn) {
        return txn.error();
    }
    MDB_stat stat{};
    if (int code = mdb_stat(txn->get(), sent_, &stat); code != 0) {
        return lmdb_error("cannot read the Message-ID index", code);
    }
    return static_cast<std::uint64_t>(stat.ms_entries);
}

Result<std::uint64_t> LmdbMessageIndex::prune_sent(std::uint64_t oldest_s,
                                                   std::uint64_t entries_max) {
    auto txn = begin(true);
    if (!txn) {
        return txn.error();
    }
    MDB_stat stat{};
    if (int code = mdb_stat(txn->get(), sent_, &stat); code != 0) {
        return lmdb_error("cannot read the Message-ID index", code);
    }
    std::uint64_t entries = stat.ms_entries;
    MDB_cursor* cursor = nullptr;
    if (int code = mdb_cursor_open(txn->get(), by_time_, &cursor); code != 0) {
        return lmdb_error("cannot read the Message-ID index", code);
    }
    std::uint64_t dropped = 0;
    MDB_val key{};
    MDB_val value{};
    int code = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
    while (code == 0 && (time_of(to_view(key)) < oldest_s || entries > entries_max)) {
        std::string message_id(to_view(key).substr(8));
        if (int deleted = mdb_cursor_del(cursor, 0); deleted != 0) {
            mdb_cursor_close(cursor);
            return lmdb_error("cannot prune the Message-ID index", deleted);
        }
        if (Status erased = txn->erase(sent_, message_id); !erased) {
            mdb_cursor_close(cursor);
            return erased.error();
        }
        --entries;
        ++dropped;
        code = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);  // the walk always takes the first
    }
    mdb_cursor_close(cursor);
    if (code != 0 && code != MDB_NOTFOUND) {
        return lmdb_error("cannot prune the Message-ID index", code);
    }
    if (Status committed = txn->commit(); !committed) {
        return committed.error();
    }
    return dropped;
}

}  // namespace relay::store::internal
