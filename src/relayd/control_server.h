// control_server.h -- relayd's control socket, where relayctl asks for queue operations.
//
// A Unix stream socket at <spool>/control.sock (mode 0600: root, or relayd's user, only). One
// request per connection: a line of JSON in, a line of JSON out (docs/relayctl.md). It runs on
// its own thread, never on a worker: requests reach the workers as posted tasks.
//
// Thread: its own; `handler` runs there.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "relay/base/result.h"

namespace relay {

class ControlServer {
  public:
    using Handler = std::function<std::string(const std::string& request)>;

    static Result<std::unique_ptr<ControlServer>> start(const std::string& path, Handler handler);
    ~ControlServer();  // stops accepting and waits for the thread

  private:
    ControlServer() = default;
    void serve();
    void answer(int client);

    std::string path_;
    Handler handler_;
    int fd_ = -1;
    std::thread thread_;
};

}  // namespace relay
