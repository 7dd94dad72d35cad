// cluster_limiter_bench.cc -- fleet-wide rate limit decisions per second against a real Redis,
// with and without leasing. Run through bench/cluster_limiter, which starts redis-server.
//
// SYNOPSIS
//   cluster_limiter_bench HOST:PORT [SECONDS] [THREADS] [REDIS_PID]
//
// DESCRIPTION
//   One resource, limit 200,000 messages per second (never the bottleneck), two rounds of
//   SECONDS each (default 3):
//   round_trip  every decision is one EVALSHA of the lease script asking for one unit, as a
//               limiter without leases would make at each MAIL; 64 requests in flight on the
//               cluster thread's link (as many sessions waiting at once), so Redis, not the
//               latency, is the limit;
//   leased      THREADS (default 2) threads call RateLimiter::acquire as workers do at MAIL,
//               each unit spent, sleeping 1 ms when none is at hand (as a MAIL waits on a
//               timer); the cluster thread leases and returns units in the background.
//   Prints decisions per second of each and their ratio, the round trip's latency (requests in
//   flight over their rate) and the leased decision's time when a unit is at hand. With
//   REDIS_PID, also redis-server's CPU time (user + system) per decision in each round: what
//   the fleet's one shared Redis pays for each MAIL. Both rounds share the machine with
//   redis-server itself: compare the ratios, not the absolute numbers.
//
// Thread: the main thread, the cluster thread, THREADS deciding threads.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "relay/cluster/cluster_service.h"
#include "relay/cluster/lease_script.h"
#include "relay/policy/rate_limiter.h"
#include "relay/store/tenant_records.h"

namespace {

using namespace relay;

constexpr std::uint32_t messages = 200'000;
constexpr std::uint32_t window_s = 1;
constexpr int in_flight_max = 64;

struct Round {
    double decisions_per_s = 0;
    double redis_cpu_s = 0;  // redis-server's CPU time during the round (0 without its pid)
    std::uint64_t decisions = 0;
};

// CPU seconds (user + system) process `pid` has used, from /proc/PID/stat; 0 without a pid.
double process_cpu_s(int pid) {
    if (pid <= 0) {
        return 0;
    }
    std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::size_t name_end = text.rfind(')');
    if (name_end == std::string::npos) {
        return 0;
    }
    // After the command name: state, then 10 fields, then utime and stime (fields 14, 15).
    std::istringstream fields(text.substr(name_end + 2));
    std::string skipped;
    for (int index = 0; index < 11; ++index) {
        fields >> skipped;
    }
    double user_ticks = 0;
    double system_ticks = 0;
    fields >> user_ticks >> system_ticks;
    return (user_ticks + system_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Round trips: a reactor of its own with a RedisLink, `in_flight_max` script calls kept going.
Round round_trip_rate(const std::string& address, double seconds, int redis_pid) {
    auto reactor = engine::Reactor::create(0, {64, 2, 4096});
    if (!reactor) {
        std::fprintf(stderr, "reactor: %s\n", reactor.error().message.c_str());
        std::exit(1);
    }
    policy::FleetHealth health;
    cluster::RedisLink link(*reactor.value(), {address, "", 1000, 30000, 100, 1000}, health,
                            std::string(cluster::lease_script()));
    link.start();
    cluster::LeaseRequest request{"bench/round_trip", messages, window_s, 1, {}};
    std::uint64_t decisions = 0;
    std::chrono::steady_clock::time_point started{};
    std::chrono::steady_clock::time_point until{};
    double redis_before_s = 0;
    std::function<void()> next;
    next = [&] {
        cluster::ScriptCall call = cluster::lease_script_call(request, "bench", 1000, 0);
        link.run_script(call.keys, call.arguments, [&](Result<cluster::RedisReply> reply) {
            Result<cluster::LeaseGrant> grant = reply ? cluster::parse_lease_reply(reply.value())
                                                      : Result<cluster::LeaseGrant>(reply.error());
            if (!grant) {
                std::fprintf(stderr, "round trip failed: %s\n", grant.error().message.c_str());
                std::exit(1);
            }
            ++decisions;
            if (std::chrono::steady_clock::now() >= until) {
                reactor.value()->stop();
                return;
            }
            next();
        });
    };
    // Wait for the script to load, then one call to build the resource's slots, then measure.
    std::function<void()> begin = [&] {
        if (!link.ready()) {
            reactor.value()->timers().add(reactor.value()->now() + std::chrono::milliseconds(10),
                                          begin);
            return;
        }
        cluster::ScriptCall call = cluster::lease_script_call(request, "bench", 1000, 0);
        link.run_script(call.keys, call.arguments, [&](const Result<cluster::RedisReply>&) {
            started = std::chrono::steady_clock::now();
            redis_before_s = process_cpu_s(redis_pid);
            until = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(seconds));
            decisions = 0;
            for (int index = 0; index < in_flight_max; ++index) {
                next();
            }
        });
    };
    begin();
    reactor.value()->run();
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return {static_cast<double>(decisions) / elapsed, process_cpu_s(redis_pid) - redis_before_s,
            decisions};
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Round leased_rate(const std::string& address, double seconds, int threads, int redis_pid) {
    policy::FleetHealth health;
    cluster::ClusterOptions options;
    options.redis = {address, "", 1000, 30000, 100, 1000};
    options.keeper.node_id = "bench";
    options.keeper.book.lease_ms = 10000;
    options.keeper.book.units_max = 256;
    auto service = cluster::ClusterService::start(options, health);
    if (!service) {
        std::fprintf(stderr, "cluster: %s\n", service.error().message.c_str());
        std::exit(1);
    }
    policy::RateLimiter limiter;
    limiter.enable_fleet(
        {&health, 10000, 256, [&service](std::shared_ptr<policy::LeasedBudget> budget) {
             service.value()->wake(std::move(budget));
         }});
    store::TenantData data;
    store::ResourceRecord resource;
    resource.project = "bench";
    resource.name = "leased";
    resource.rate_messages = messages;
    resource.rate_window_s = window_s;
    data.resources.push_back(resource);
    limiter.update(*policy::TenantSnapshot::build(data), now_ms());
    while (health.down_since_ms.load() != 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Warm up: the first lease makes the resource's keys in Redis.
    for (auto until = now_ms() + 60000; now_ms() < until;) {
        if (limiter.acquire("bench/leased", now_ms()).unit) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::atomic<std::uint64_t> taken{0};
    std::atomic<std::uint64_t> taken_ns{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> deciders;
    deciders.reserve(static_cast<std::size_t>(threads));
    auto started = std::chrono::steady_clock::now();
    double redis_before_s = process_cpu_s(redis_pid);
    for (int index = 0; index < threads; ++index) {
        deciders.emplace_back([&] {
            std::uint64_t mine = 0;
            std::uint64_t mine_ns = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                auto before = std::chrono::steady_clock::now();
                policy::RateAdmission admission = limiter.acquire("bench/leased", now_ms());
                if (!admission.unit) {
                    // As a session's MAIL waits on a timer: the waiting takes no CPU from
                    // Redis or the cluster thread.
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                } else {  // spent: dropped without give_back
                    ++mine;
                    mine_ns += static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - before)
                            .count());
                }
            }
            taken.fetch_add(mine);
            taken_ns.fetch_add(mine_ns);
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (std::thread& decider : deciders) {
        decider.join();
    }
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    double redis_cpu_s = process_cpu_s(redis_pid) - redis_before_s;
    std::printf("leased:     a MAIL's decision with a unit at hand: %.0f ns on average\n",
                static_cast<double>(taken_ns.load()) / static_cast<double>(taken.load()));
    return {static_cast<double>(taken.load()) / elapsed, redis_cpu_s, taken.load()};
}

void print_redis_cpu(const char* label, const Round& round) {
    if (round.decisions == 0 || round.redis_cpu_s <= 0) {
        return;
    }
    std::printf("%s redis-server CPU %.1f us per decision\n", label,
                1e6 * round.redis_cpu_s / static_cast<double>(round.decisions));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: cluster_limiter_bench HOST:PORT [SECONDS] [THREADS] [REDIS_PID]\n");
        return 2;
    }
    std::string address = argv[1];
    double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
    int threads = argc > 3 ? std::atoi(argv[3]) : 2;
    int redis_pid = argc > 4 ? std::atoi(argv[4]) : 0;
    Round round_trip = round_trip_rate(address, seconds, redis_pid);
    std::printf("round_trip: %.0f decisions/s (one EVALSHA each, %d in flight: %.2f ms each)\n",
                round_trip.decisions_per_s, in_flight_max,
                1000.0 * in_flight_max / round_trip.decisions_per_s);
    print_redis_cpu("round_trip:", round_trip);
    Round leased = leased_rate(address, seconds, threads, redis_pid);
    std::printf("leased:     %.0f decisions/s (%d threads, units leased in the background)\n",
                leased.decisions_per_s, threads);
    print_redis_cpu("leased:    ", leased);
    std::printf("ratio:      %.1fx\n", leased.decisions_per_s / round_trip.decisions_per_s);
    return 0;
}
