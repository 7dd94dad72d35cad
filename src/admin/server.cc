// server.cc -- cpp-httplib servers in front of admin::Api.
//
// The only file that includes httplib.h (and through it OpenSSL's headers): the rest of relayd
// sees wolfSSL's alone.
//
// Thread: see server.h. Handlers run on httplib's pool threads, one at a time (`mutex`).
#include "relay/admin/server.h"

#include <httplib.h>

#include <mutex>
#include <thread>

#include "relay/admin/dashboard.h"
#include "relay/base/log.h"

namespace relay::admin {

struct AdminServer::State {
    config::Admin config;
    std::unique_ptr<httplib::Server> api;
    std::unique_ptr<httplib::Server> metrics;  // metrics_listen, if set
    std::unique_ptr<Api> handler;
    Dashboard dashboard;
    std::mutex mutex;
    std::thread api_thread;
    std::thread metrics_thread;
};

namespace {

HttpRequest request_of(const httplib::Request& in) {
    HttpRequest request;
    request.method = in.method;
    request.path = in.path;
    for (const auto& [key, value] : in.params) {
        request.query.emplace(key, value);  // the first of repeated keys
    }
    request.body = in.body;
    request.authorization = in.get_header_value("Authorization");
    return request;
}

void respond(const HttpResponse& response, httplib::Response& out) {
    out.status = response.status;
    for (const auto& [name, value] : response.headers) {
        out.set_header(name, value);
    }
    out.set_content(response.body, response.content_type.c_str());
}

Result<std::unique_ptr<httplib::Server>> make_server(const config::Admin& config,
                                                     const engine::SocketAddress& address,
                                                     bool tls) {
    std::unique_ptr<httplib::Server> server;
    if (tls) {
        auto secure = std::make_unique<httplib::SSLServer>(config.certificate_chain_file.c_str(),
                                                           config.private_key_file.c_str());
        if (!secure->is_valid()) {
            return Error{"admin: cannot load the TLS certificate " + config.certificate_chain_file +
                         " and key " + config.private_key_file};
        }
        server = std::move(secure);
    } else {
        server = std::make_unique<httplib::Server>();
    }
    std::uint32_t threads = config.threads;
    server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server->set_payload_max_length(config.request_bytes_max);
    server->set_read_timeout(10, 0);
    server->set_write_timeout(10, 0);
    server->set_keep_alive_max_count(100);
    if (!server->bind_to_port(address.ip().c_str(), address.port())) {
        return Error{"admin: cannot listen on " + address.to_string() +
                     " (in use, or not an address of this host)"};
    }
    return server;
}

template <class Handler>
void on_every_method(httplib::Server& server, Handler handler) {
    server.Get(".*", handler);
    server.Post(".*", handler);
    server.Put(".*", handler);
    server.Patch(".*", handler);
    server.Delete(".*", handler);
}

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::bind(const config::Admin& config) {
    std::unique_ptr<AdminServer> server(new AdminServer());
    server->state_ = std::make_unique<State>();
    State& state = *server->state_;
    state.config = config;
    state.dashboard = Dashboard::load(config.dashboard_dir);
    for (const std::string& problem : state.dashboard.problems()) {
        log::warning("admin: the dashboard cannot serve {}", problem);
    }
    bool tls = !config.certificate_chain_file.empty();
    auto api = make_server(config, config.listen, tls);
    if (!api) {
        return api.error();
    }
    state.api = std::move(api.value());
    if (config.metrics_separate) {
        auto metrics = make_server(config, config.metrics_listen, false);
        if (!metrics) {
            return metrics.error();
        }
        state.metrics = std::move(metrics.value());
    }
    return server;
}

void AdminServer::serve(Backend backend) {
    State& state = *state_;
    backend.dashboard = &state.dashboard;
    state.handler = std::make_unique<Api>(std::move(backend));
    on_every_method(*state.api, [&state](const httplib::Request& in, httplib::Response& out) {
        HttpRequest request = request_of(in);
        std::lock_guard lock(state.mutex);
        respond(state.handler->handle(request), out);
    });
    state.api_thread = std::thread([&state] {
        log::set_thread_name("admin");
        state.api->listen_after_bind();
    });
    if (state.metrics) {
        on_every_method(
            *state.metrics, [&state](const httplib::Request& in, httplib::Response& out) {
                if (in.path != "/metrics") {
                    respond({404, "application/json", "{\"error\": \"only /metrics here\"}\n", {}},
                            out);
                    return;
                }
                std::lock_guard lock(state.mutex);
                respond(state.handler->metrics(), out);
            });
        state.metrics_thread = std::thread([&state] {
            log::set_thread_name("metrics");
            state.metrics->listen_after_bind();
        });
    }
    std::string scheme = state.config.certificate_chain_file.empty() ? "http" : "https";
    log::info("admin API on {}://{}{}, the dashboard at /dashboard/", scheme,
              state.config.listen.to_string(),
              state.metrics ? ", /metrics also on http://" +
                                  state.config.metrics_listen.to_string() + " without a token"
                            : std::string());
}

AdminServer::~AdminServer() {
    if (!state_) {
        return;
    }
    if (state_->api) {
        state_->api->stop();
    }
    if (state_->metrics) {
        state_->metrics->stop();
    }
    if (state_->api_thread.joinable()) {
        state_->api_thread.join();
    }
    if (state_->metrics_thread.joinable()) {
        state_->metrics_thread.join();
    }
}

}  // namespace relay::admin
