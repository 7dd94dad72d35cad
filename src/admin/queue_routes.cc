// queue_routes.cc -- the queue over the admin API: read from the spool as `relayctl queue
// list|show|summary` reads it, changed through the same handler as relayd's control socket.
//
//     /queue               GET ?resource=P/N&domain=D (paged)
//     /queue/summary       GET
//     /queue/retry         POST {domain?, resource?, all?}
//     /queue/ID            GET, DELETE (drop its pending recipients without a notification)
//     /queue/ID/retry      POST (deliver now)
//     /queue/ID/bounce     POST (fail its pending recipients and notify the sender)
//
// Reading the spool is a scan of its segment files (read-only: a record a worker is writing
// reads as a torn tail and is left out), done on the admin thread, never a worker's.
//
// Thread: the admin thread(s); blocks on the disk and on the workers' answer (10 s at most).
#include "relay/admin/queue_view.h"
#include "relay/base/ascii.h"
#include "relay/smtp/address.h"
#include "relay/spool/queue_id.h"
#include "routes.h"

namespace relay::admin::internal {
namespace {

Result<spool::Recovery> read_queue(Call& call) {
    return spool::recover(call.backend.config->spool.path + "/segments", false);
}

HttpResponse list(Call& call) {
    auto page = page_of(call);
    if (!page) {
        return error_response(page.error());
    }
    auto queue = read_queue(call);
    if (!queue) {
        return error_response(queue.error());
    }
    std::string resource = ascii_lower(call.query("resource"));
    std::string domain = call.query("domain");
    json items = json::array();
    std::uint64_t total = 0;
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        const spool::QueuedMessage& message = recovered.message;
        if ((!resource.empty() && ascii_lower(message.envelope.resource) != resource) ||
            !has_pending_domain(message, domain)) {
            continue;
        }
        if (total++ >= page->offset && items.size() < page->limit) {
            items.push_back(queued_message_json(message, false));
        }
    }
    return json_response(200, page_json(std::move(items), total, *page));
}

HttpResponse show(Call& call, spool::QueueId id) {
    auto queue = read_queue(call);
    if (!queue) {
        return error_response(queue.error());
    }
    for (const spool::RecoveredMessage& recovered : queue->messages) {
        if (recovered.message.id == id) {
            return json_response(200, queued_message_json(recovered.message, true));
        }
    }
    return error_response(404, "no message " + spool::format_queue_id(id) + " in the queue");
}

// Asks relayd's queue control as relayctl does; 404 when an id touched nothing.
HttpResponse change(Call& call, const json& request) {
    if (!call.backend.queue_control) {
        return error_response(503, "the queue cannot be changed from here");
    }
    json answer = json::parse(call.backend.queue_control(request.dump()), nullptr, false);
    if (answer.is_discarded() || !answer.is_object()) {
        return error_response(500, "relayd gave no answer");
    }
    if (!answer.value("ok", false)) {
        return error_response(503, answer.value("error", std::string("request refused")));
    }
    std::size_t messages = answer.value("messages", std::size_t{0});
    if (messages == 0 && request.contains("id")) {
        return error_response(404,
                              "no message " + request["id"].get<std::string>() + " in the queue");
    }
    return json_response(200, {{"command", request["command"]}, {"messages", messages}});
}

HttpResponse retry_many(Call& call) {
    auto domain = string_field(call.body, "domain");
    auto resource = string_field(call.body, "resource");
    if (!domain || !resource) {
        return error_response(!domain ? domain.error() : resource.error());
    }
    bool all = call.body.value("all", json(false)).is_boolean() && call.body.value("all", false);
    json request{{"command", "retry"}};
    if (domain.value()) {
        request["domain"] = *domain.value();
    }
    if (resource.value()) {
        request["resource"] = *resource.value();
    }
    if (all) {
        request["all"] = true;
    }
    if (request.size() == 1) {
        return error_response(400, "give domain, resource or \"all\": true");
    }
    return change(call, request);
}

HttpResponse one_message(Call& call) {
    auto id = spool::parse_queue_id(call.segments[1]);
    if (!id) {
        return error_response(
            404, "no message " + call.segments[1] + " in the queue (an id is 16 hex digits)");
    }
    std::string text = spool::format_queue_id(*id);
    if (call.segments.size() == 3) {
        const std::string& verb = call.segments[2];
        if (verb != "retry" && verb != "bounce") {
            return error_response(404, "no such path");
        }
        return call.method() == "POST" ? change(call, {{"command", verb}, {"id", text}})
                                       : method_not_allowed("POST");
    }
    if (call.method() == "GET") {
        return show(call, *id);
    }
    return call.method() == "DELETE" ? change(call, {{"command", "delete"}, {"id", text}})
                                     : method_not_allowed("GET, DELETE");
}

}  // namespace

HttpResponse queue_routes(Call& call) {
    if (call.segments.size() == 1) {
        return call.method() == "GET" ? list(call) : method_not_allowed("GET");
    }
    if (call.segments.size() == 2 && call.segments[1] == "summary") {
        if (call.method() != "GET") {
            return method_not_allowed("GET");
        }
        auto queue = read_queue(call);
        return queue ? json_response(200, queue_summary_json(queue_summary(queue.value())))
                     : error_response(queue.error());
    }
    if (call.segments.size() == 2 && call.segments[1] == "retry") {
        return call.method() == "POST" ? retry_many(call) : method_not_allowed("POST");
    }
    if (call.segments.size() > 3) {
        return error_response(404, "no such path");
    }
    return one_message(call);
}

}  // namespace relay::admin::internal
