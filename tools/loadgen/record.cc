// record.cc -- buffered record lines and message dumps of accepted messages.
//
// Untrusted bytes: the server's final reply line (sanitized here). Thread: the owning worker.
// Must never: split a line across two write(2) calls on purpose (a short write is retried, which
// is the only case where another worker's line could land between the two parts).
#include "record.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "reply.h"

namespace loadgen {
namespace {

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t written = ::write(fd, bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
}

// A record field: no tabs, no line endings, no other control characters.
void append_field(std::string& out, std::string_view text) {
    for (char c : text) {
        out += static_cast<unsigned char>(c) < ' ' || c == '\x7f' ? ' ' : c;
    }
}

// A file name from a queue id: letters, digits, '.', '_', '-' (others become '_'), no leading dot.
std::string file_name_of(std::string_view queue_id, std::uint64_t index) {
    if (queue_id.empty()) {
        return fmt::format("index-{}.eml", index);
    }
    std::string name;
    for (char c : queue_id.substr(0, 200)) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
        name += plain ? c : '_';
    }
    if (name.front() == '.') {
        name.front() = '_';
    }
    return name + ".eml";
}

}  // namespace

Recorder::Recorder(int record_fd, std::string dump_dir)
    : record_fd_(record_fd), dump_dir_(std::move(dump_dir)) {
    if (record_fd_ >= 0) {
        buffer_.reserve(record_buffer_bytes_max + 4096);
    }
}

Recorder::~Recorder() {
    (void)flush();
}

int Recorder::accepted(const Message& message, std::string_view final_line) {
    std::string_view queue_id = queue_id_of(final_line);
    int failures = 0;
    if (record_fd_ >= 0) {
        append_field(buffer_, queue_id.empty() ? final_line : queue_id);
        fmt::format_to(std::back_inserter(buffer_), "\t{}\t{}\t{:016x}\n", message.index,
                       message.size_bytes(), message.hash());
        if (buffer_.size() >= record_buffer_bytes_max) {
            failures += flush();
        }
    }
    if (!dump_dir_.empty()) {
        failures += dump(message, queue_id);
    }
    return failures;
}

int Recorder::flush() {
    if (buffer_.empty() || record_fd_ < 0) {
        return 0;
    }
    bool ok = write_all(record_fd_, buffer_);
    buffer_.clear();
    return ok ? 0 : 1;
}

int Recorder::dump(const Message& message, std::string_view queue_id) {
    std::string path = dump_dir_ + "/" + file_name_of(queue_id, message.index);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return 1;
    }
    iovec parts[3];
    message.raw_iovecs(parts);
    bool ok = true;
    for (const iovec& part : parts) {
        ok = ok && write_all(fd, {static_cast<const char*>(part.iov_base), part.iov_len});
    }
    ok = ::close(fd) == 0 && ok;
    return ok ? 0 : 1;
}

}  // namespace loadgen
