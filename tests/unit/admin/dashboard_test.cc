// dashboard_test.cc -- the dashboard's static files: only the fixed names are served, from
// memory, with their type and the page's security headers, without a token; anything else under
// /dashboard/ is 404.
#include "relay/admin/dashboard.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace relay::admin {
namespace {

std::string header(const HttpResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers) {
        if (key == name) {
            return value;
        }
    }
    return "";
}

class DashboardFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/relay-dashboard-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        std::filesystem::create_directory(root_ / "site");
        for (const DashboardFile& file : dashboard_files) {
            write(root_ / "site" / file.name, "contents of " + std::string(file.name));
        }
        write(root_ / "site" / "package.json", "{}");
        write(root_ / "secret.toml", "password = 1");
    }
    void TearDown() override { std::filesystem::remove_all(root_); }

    static void write(const std::filesystem::path& path, const std::string& text) {
        std::ofstream(path) << text;
    }
    static HttpRequest get(const std::string& path) { return {"GET", path, {}, "", ""}; }

    std::filesystem::path root_;
};

TEST_F(DashboardFiles, EveryFileIsServedWithItsTypeAndThePagePolicy) {
    Dashboard dashboard = Dashboard::load((root_ / "site").string());
    EXPECT_TRUE(dashboard.complete());
    HttpResponse index = dashboard.serve(get("/dashboard/"));
    EXPECT_EQ(index.status, 200);
    EXPECT_EQ(index.body, "contents of index.html");
    EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(header(index, "Content-Security-Policy"), dashboard_content_security_policy);
    EXPECT_TRUE(header(index, "Content-Security-Policy").starts_with("default-src 'self';"));
    EXPECT_EQ(header(index, "Cache-Control"), "no-cache");
    EXPECT_EQ(header(index, "X-Content-Type-Options"), "nosniff");
    HttpResponse script = dashboard.serve(get("/dashboard/uPlot.iife.min.js"));
    EXPECT_EQ(script.status, 200);
    EXPECT_EQ(script.body, "contents of uPlot.iife.min.js");
    EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(dashboard.serve(get("/dashboard/dashboard.css")).content_type,
              "text/css; charset=utf-8");
}

TEST_F(DashboardFiles, NoOtherPathReachesTheFileSystem) {
    Dashboard dashboard = Dashboard::load((root_ / "site").string());
    for (const char* path :
         {"/dashboard/package.json", "/dashboard/../secret.toml", "/dashboard/./index.html",
          "/dashboard//index.html", "/dashboard/index.html/", "/dashboard/INDEX.HTML",
          "/dashboard/sub/index.html", "/dashboard/index.html%00"}) {
        HttpResponse response = dashboard.serve(get(path));
        EXPECT_EQ(response.status, 404) << path;
        EXPECT_EQ(response.body.find("password"), std::string::npos) << path;
        EXPECT_FALSE(header(response, "Content-Security-Policy").empty()) << path;
    }
    HttpResponse bare = dashboard.serve(get("/dashboard"));
    EXPECT_EQ(bare.status, 308);
    EXPECT_EQ(header(bare, "Location"), "/dashboard/");
    EXPECT_EQ(dashboard.serve({"POST", "/dashboard/", {}, "{}", ""}).status, 405);
}

TEST_F(DashboardFiles, AMissingFileIsNamedAndAnswered404) {
    std::filesystem::remove(root_ / "site" / "uPlot.min.css");
    Dashboard dashboard = Dashboard::load((root_ / "site").string());
    ASSERT_EQ(dashboard.problems().size(), 1u);
    EXPECT_NE(dashboard.problems()[0].find("uPlot.min.css"), std::string::npos);
    EXPECT_EQ(dashboard.serve(get("/dashboard/uPlot.min.css")).status, 404);
    EXPECT_EQ(dashboard.serve(get("/dashboard/index.html")).status, 200);
    EXPECT_EQ(Dashboard::load((root_ / "none").string()).problems().size(), dashboard_files.size());
}

TEST_F(DashboardFiles, TheApiServesThePageWithoutATokenAndNothingElse) {
    Dashboard dashboard = Dashboard::load((root_ / "site").string());
    Backend backend;
    backend.dashboard = &dashboard;
    Api api(backend);  // no store: a request that reached it would crash, none may
    EXPECT_EQ(api.handle(get("/dashboard/")).body, "contents of index.html");
    EXPECT_EQ(api.handle(get("/dashboard")).status, 308);
    EXPECT_EQ(api.handle(get("/dashboardx")).status, 404);
    EXPECT_EQ(Api(Backend{}).handle(get("/dashboard/")).status, 404);
}

}  // namespace
}  // namespace relay::admin
