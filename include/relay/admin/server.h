// server.h -- the admin plane's HTTP(S) server (cpp-httplib) on threads of its own: the API and
// /metrics on `[admin] listen`, and /metrics alone, without a token, on `metrics_listen`.
//
// Two steps, for relayd's start-up order: bind() before the privilege drop (the certificate's
// key is often readable by root only, and the sockets are bound as the SMTP listeners are), and
// serve() once the tenant store is open and signals are masked (the threads inherit the mask,
// so a SIGTERM never lands on them). Requests run one at a time through admin::Api; a slow
// request (a spool scan, an RSA key generation) delays the next admin request, never mail.
//
// TLS: cpp-httplib's is OpenSSL's (Debian's libcpp-httplib is built with it), linked next to
// relayd's wolfSSL; docs/admin-api.md says why that is clean.
//
// Thread: bind() and serve() on the main thread; the destructor stops and joins the threads.
#pragma once

#include <memory>

#include "relay/admin/api.h"
#include "relay/base/result.h"
#include "relay/config/config.h"

namespace relay::admin {

class AdminServer {
  public:
    static Result<std::unique_ptr<AdminServer>> bind(const config::Admin& config);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Starts answering with `backend`.
    void serve(Backend backend);

    struct State;  // the httplib servers and their threads, in server.cc

  private:
    AdminServer() = default;
    std::unique_ptr<State> state_;
};

}  // namespace relay::admin
