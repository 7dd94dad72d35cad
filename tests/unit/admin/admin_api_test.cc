// admin_api_test.cc -- the admin API as a function: tokens, request validation, the JSON of
// answers, paging, statistics series and the metrics text, over a real tenant store (LMDB) in a
// temporary folder.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "relay/admin/api.h"
#include "relay/admin/token.h"
#include "relay/store/lmdb_tenant_store.h"

namespace relay::admin {
namespace {

using nlohmann::json;

constexpr std::uint64_t now_s = 1'796'155'230;  // 2026-12-01T20:00:30Z

TEST(AdminToken, HashIsSha256OfTheText) {
    EXPECT_EQ(admin_token_sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AdminToken, GeneratedTokensAreLongRandomAndHashed) {
    auto first = generate_admin_token();
    auto second = generate_admin_token();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->token.size(), 7u + 64u);
    EXPECT_TRUE(first->token.starts_with("rlyadm_"));
    EXPECT_NE(first->token, second->token);
    EXPECT_EQ(first->sha256_hex, admin_token_sha256_hex(first->token));
}

TEST(AdminToken, ComparisonLooksAtEveryKnownHash) {
    std::vector<std::string> known = {admin_token_sha256_hex("a"), admin_token_sha256_hex("b")};
    EXPECT_TRUE(admin_token_known(admin_token_sha256_hex("b"), known));
    EXPECT_FALSE(admin_token_known(admin_token_sha256_hex("c"), known));
    EXPECT_FALSE(admin_token_known("", known));
    EXPECT_TRUE(constant_time_equal("same", "same"));
    EXPECT_FALSE(constant_time_equal("same", "sane"));
    EXPECT_FALSE(constant_time_equal("same", "samey"));
}

class AdminApi : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-admin-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        auto store = store::open_lmdb_tenant_store({(root_ / "store").string(), 64ull << 20});
        ASSERT_TRUE(store) << store.error().message;
        store_ = std::move(store.value());
        config_.spool.path = (root_ / "spool").string();
        config_.admin.page_items_max = 50;
        config_.credentials.argon2_memory_kib = 64;
        config_.credentials.argon2_iterations = 1;
        token_ = generate_admin_token().value();
        ASSERT_TRUE(store_->admin_tokens().add_admin_token({"test", token_.sha256_hex, now_s}));
        api_ = std::make_unique<Api>(
            Backend{&config_, store_.get(), {}, nullptr, nullptr, [] { return now_s; }});
    }
    void TearDown() override {
        api_.reset();
        store_.reset();
        std::filesystem::remove_all(root_);
    }

    HttpResponse call(const std::string& method, const std::string& path,
                      const std::string& body = "",
                      const std::map<std::string, std::string>& query = {}) {
        return api_->handle({method, path, query, body, "Bearer " + token_.token});
    }
    json call_json(const std::string& method, const std::string& path, int status,
                   const std::string& body = "",
                   const std::map<std::string, std::string>& query = {}) {
        HttpResponse response = call(method, path, body, query);
        EXPECT_EQ(response.status, status) << method << " " << path << ": " << response.body;
        return json::parse(response.body);
    }

    std::filesystem::path root_;
    std::unique_ptr<store::TenantStore> store_;
    config::Config config_;
    NewAdminToken token_;
    std::unique_ptr<Api> api_;
};

TEST_F(AdminApi, EveryPathNeedsAValidBearerToken) {
    for (const char* path : {"/api/v1/projects", "/metrics"}) {
        HttpResponse missing = api_->handle({"GET", path, {}, "", ""});
        EXPECT_EQ(missing.status, 401);
        EXPECT_TRUE(json::parse(missing.body).contains("error"));
        ASSERT_EQ(missing.headers.size(), 1u);
        EXPECT_EQ(missing.headers[0].first, "WWW-Authenticate");
        EXPECT_EQ(api_->handle({"GET", path, {}, "", "Bearer " + token_.token + "x"}).status, 401);
        EXPECT_EQ(api_->handle({"GET", path, {}, "", "Basic " + token_.token}).status, 401);
        EXPECT_EQ(api_->handle({"GET", path, {}, "", "bearer " + token_.token}).status, 200);
    }
    ASSERT_TRUE(store_->admin_tokens().remove_admin_token("test").value());
    EXPECT_EQ(call("GET", "/api/v1/projects").status, 401);
}

TEST_F(AdminApi, BadBodiesAreRefusedWithTheFieldNamed) {
    EXPECT_EQ(call("POST", "/api/v1/projects", "{\"name\": ").status, 400);
    EXPECT_EQ(call("POST", "/api/v1/projects", "[\"acme\"]").status, 400);
    json wrong_type = call_json("POST", "/api/v1/projects", 400, R"({"name": 3})");
    EXPECT_NE(wrong_type["error"].get<std::string>().find("\"name\""), std::string::npos);
    json missing = call_json("POST", "/api/v1/projects", 400, "{}");
    EXPECT_NE(missing["error"].get<std::string>().find("\"name\""), std::string::npos);
    json negative =
        call_json("POST", "/api/v1/projects", 400, R"({"name": "acme", "resources_max": -1})");
    EXPECT_NE(negative["error"].get<std::string>().find("resources_max"), std::string::npos);
    EXPECT_EQ(call("POST", "/api/v1/projects", R"({"name": "no spaces"})").status, 400);
    EXPECT_TRUE(store_->load()->projects.empty());
}

TEST_F(AdminApi, UnknownPathsAndMethods) {
    EXPECT_EQ(call("GET", "/api/v1/nothing").status, 404);
    EXPECT_EQ(call("GET", "/api/v2/projects").status, 404);
    EXPECT_EQ(call("GET", "/api/v1/projects/a/b/c/d/e/f/g/h/i").status, 404);
    EXPECT_EQ(call("GET", "/api/v1/projects/%zz").status, 404);
    HttpResponse wrong = call("PUT", "/api/v1/projects");
    EXPECT_EQ(wrong.status, 405);
    ASSERT_EQ(wrong.headers.size(), 1u);
    EXPECT_EQ(wrong.headers[0], std::make_pair(std::string("Allow"), std::string("GET, POST")));
    EXPECT_EQ(call("POST", "/metrics").status, 405);
    EXPECT_EQ(call("DELETE", "/api/v1/stats").status, 405);
}

TEST_F(AdminApi, ProjectsAreMappedAndPaged) {
    json acme = call_json("POST", "/api/v1/projects", 201, R"({"name": "acme", "domains_max": 7})");
    EXPECT_EQ(acme, json::parse(R"({"name": "acme", "resources": 0, "resources_max": 1,
                                    "domains_max": 7, "networks": []})"));
    EXPECT_EQ(call("POST", "/api/v1/projects", R"({"name": "acme"})").status, 409);
    for (const char* name : {"b1", "b2", "b3"}) {
        call_json("POST", "/api/v1/projects", 201, json{{"name", name}}.dump());
    }
    json page = call_json("GET", "/api/v1/projects", 200, "", {{"offset", "1"}, {"limit", "2"}});
    EXPECT_EQ(page["total"], 4);
    EXPECT_EQ(page["offset"], 1);
    EXPECT_EQ(page["limit"], 2);
    ASSERT_EQ(page["items"].size(), 2u);
    EXPECT_EQ(page["items"][0]["name"], "b1");
    EXPECT_EQ(page["items"][1]["name"], "b2");
    EXPECT_EQ(call("GET", "/api/v1/projects", "", {{"limit", "51"}}).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/projects", "", {{"offset", "-1"}}).status, 400);
    EXPECT_EQ(call_json("GET", "/api/v1/projects", 200, "", {{"offset", "9"}})["items"].size(), 0u);
    json patched =
        call_json("PATCH", "/api/v1/projects/acme", 200, R"({"networks": ["192.0.2.0/24"]})");
    EXPECT_EQ(patched["networks"], json::parse(R"(["192.0.2.0/24"])"));
    EXPECT_EQ(call("PATCH", "/api/v1/projects/acme", "{}").status, 400);
    EXPECT_EQ(call("GET", "/api/v1/projects/none").status, 404);
    EXPECT_EQ(call("DELETE", "/api/v1/projects/none").status, 404);
}

TEST_F(AdminApi, ResourceQuotaAndPasswordShownOnce) {
    call_json("POST", "/api/v1/projects", 201, R"({"name": "acme"})");
    json created =
        call_json("POST", "/api/v1/resources", 201, R"({"project": "acme", "name": "main"})");
    EXPECT_EQ(created["username"], "acme/main");
    EXPECT_GE(created["password"].get<std::string>().size(), 16u);
    // The store keeps a hash, never the password.
    EXPECT_EQ(store_->load()->resources[0].password_hash.find(created["password"]),
              std::string::npos);
    json quota = call_json("POST", "/api/v1/resources", 409, R"({"project": "acme", "name": "b"})");
    EXPECT_NE(quota["error"].get<std::string>().find("acme"), std::string::npos);
    EXPECT_EQ(call("POST", "/api/v1/resources", R"({"project": "none", "name": "b"})").status, 404);
    json shown = call_json("GET", "/api/v1/resources/acme/main", 200);
    EXPECT_FALSE(shown.contains("password"));
    EXPECT_TRUE(shown["return_path"].is_null());
    EXPECT_EQ(call("PUT", "/api/v1/resources/acme/main/limit", R"({"messages": 0, "window_s": 5})")
                  .status,
              400);
    EXPECT_EQ(call("PUT", "/api/v1/resources/acme/main/limit", R"({"messages": 5})").status, 400);
    EXPECT_EQ(call("GET", "/api/v1/resources/acme/main/limit").status, 405);
}

TEST_F(AdminApi, SeriesAreColumnsWithEveryBucket) {
    store::StatsCounts counts{};
    counts[static_cast<std::size_t>(store::StatsCounter::accepted)] = 4;
    counts[static_cast<std::size_t>(store::StatsCounter::refused_size)] = 2;
    counts[static_cast<std::size_t>(store::StatsCounter::refused_auth)] = 1;
    std::vector<store::StatsDelta> deltas = {
        {{store::StatsScopeKind::resource, "acme/main"}, now_s / 60 - 2, counts},
        {{store::StatsScopeKind::resource, "acme/other"}, now_s / 60, counts},
    };
    ASSERT_TRUE(store_->stats().add_stats(deltas));
    json series = call_json("GET", "/api/v1/stats/series", 200, "",
                            {{"resource", "acme/main"}, {"since", "5m"}});
    EXPECT_EQ(series["grain_s"], 60);
    ASSERT_EQ(series["time"].size(), 6u);  // minutes -5 .. 0
    EXPECT_EQ(series["time"][0], (now_s - 300) / 60 * 60);
    EXPECT_EQ(series["series"]["accepted"], json::parse("[0, 0, 0, 4, 0, 0]"));
    EXPECT_EQ(series["series"]["refused"], json::parse("[0, 0, 0, 3, 0, 0]"));
    EXPECT_EQ(series["series"]["delivered"], json::parse("[0, 0, 0, 0, 0, 0]"));
    json every = call_json("GET", "/api/v1/stats/series", 200, "", {{"since", "5m"}});
    EXPECT_EQ(every["series"]["accepted"], json::parse("[0, 0, 0, 4, 0, 4]"));
    json hours = call_json("GET", "/api/v1/stats/series", 200, "", {{"grain", "hour"}});
    EXPECT_EQ(hours["time"].size(), 25u);
    // acme/main's minute, two minutes back, is in the previous hour.
    EXPECT_EQ(hours["series"]["accepted"][23], 4);
    EXPECT_EQ(hours["series"]["accepted"][24], 4);
    EXPECT_EQ(call("GET", "/api/v1/stats/series", "", {{"since", "3d"}}).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/stats/series", "", {{"grain", "second"}}).status, 400);
    json sums = call_json("GET", "/api/v1/stats", 200, "", {{"since", "1h"}});
    EXPECT_EQ(sums["total"]["accepted"], 8);
    EXPECT_EQ(sums["columns"].size(), 2u);
}

TEST_F(AdminApi, MetricsCountPerResourceInTheTextFormat) {
    store::StatsCounts counts{};
    counts[static_cast<std::size_t>(store::StatsCounter::accepted)] = 5;
    counts[static_cast<std::size_t>(store::StatsCounter::refused_rate_limit)] = 2;
    counts[static_cast<std::size_t>(store::StatsCounter::bounced_soft)] = 1;
    ASSERT_TRUE(store_->stats().add_stats(std::vector<store::StatsDelta>{
        {{store::StatsScopeKind::resource, "acme/main"}, now_s / 60, counts}}));
    HttpResponse response = api_->metrics();
    EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
    const std::string& text = response.body;
    EXPECT_NE(text.find("# TYPE relay_accepted_messages_total counter\n"
                        "relay_accepted_messages_total{resource=\"acme/main\"} 5\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_refused_total{resource=\"acme/main\",reason=\"rate_limit\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_bounced_recipients_total{resource=\"acme/main\",kind=\"soft\"} 1\n"),
              std::string::npos);
}

TEST_F(AdminApi, MetricsHaveTheWorkersDeliveryLatencyHistogram) {
    stats::DeliveryLatency latency(2);
    latency.worker(0).record(40);          // <= 0.1 s
    latency.worker(1).record(100);         // <= 0.1 s: a bound is inclusive
    latency.worker(1).record(1'500);       // <= 2.5 s
    latency.worker(0).record(90'000'000);  // past a day: only +Inf
    Api api(Backend{&config_, store_.get(), {}, &latency, nullptr, [] { return now_s; }});
    std::string text = api.metrics().body;
    EXPECT_NE(text.find("# TYPE relay_delivery_latency_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_bucket{le=\"0.100\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_bucket{le=\"1.000\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_bucket{le=\"2.500\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_bucket{le=\"86400.000\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_bucket{le=\"+Inf\"} 4\n"),
              std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_sum 90001.640\n"), std::string::npos);
    EXPECT_NE(text.find("relay_delivery_latency_seconds_count 4\n"), std::string::npos);
}

}  // namespace
}  // namespace relay::admin
