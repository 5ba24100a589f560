// vpipe's metrics as a monitoring system meets them: a real Prometheus server (Debian's, started
// by the test on 127.0.0.1 with its config and storage in the test's folder, stopped by PID)
// scrapes a live run with the shipped rules loaded, and a real Pushgateway takes a batch run's
// final push. Checked through their HTTP APIs: the final counts arrive (the endpoint lingers),
// the rules evaluate, the histogram's p99 agrees with the stats JSON's, and every expression of
// the shipped Grafana dashboard returns data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSource = VPIPE_SOURCE_DIR;

// Waits until GET `path` answers 200 (a server that has just started).
bool wait_until_ready(int port, const std::string& path, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(1);
    if (const auto res = client.Get(path); res && res->status == 200) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

bool wait_for_file(const std::string& path, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

class PrometheusTest : public RunDirTest {
 protected:
  // An instant query's result vector (empty on any failure, with the reason added to the test).
  json query(const std::string& promql) const {
    httplib::Client client("127.0.0.1", prometheus_port_);
    const auto res =
        client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!res || res->status != 200) {
      ADD_FAILURE() << promql << ": " << (res ? res->body : "no answer");
      return json::array();
    }
    const json body = json::parse(res->body);
    EXPECT_EQ(body.value("status", ""), "success") << promql;
    return body["data"]["result"];
  }
  double value_of(const std::string& promql) const {
    const json result = query(promql);
    if (result.size() != 1) {
      ADD_FAILURE() << promql << " gave " << result.dump();
      return std::nan("");
    }
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  int prometheus_port_ = 0;
};

TEST_F(PrometheusTest, ScrapesALiveRunWhoseRulesEvaluateAndWhoseDashboardHasData) {
  const int vpipe_port = free_tcp_port();
  prometheus_port_ = free_tcp_port();
  const std::string rules = kSource + "/deploy/prometheus/vpipe-rules.yml";
  const std::string config = path("prometheus.yml");
  std::ofstream(config) << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                        << "rule_files: ['" << rules << "']\n"
                        << "scrape_configs:\n"
                        << "  - job_name: vpipe\n"
                        << "    static_configs: [{targets: ['127.0.0.1:" << vpipe_port << "']}]\n";
  ASSERT_EQ(shell("promtool check rules " + rules + " >/dev/null"), 0);
  ASSERT_EQ(shell("promtool check config " + config + " >/dev/null"), 0);
  const pid_t prometheus =
      start_program("prometheus",
                    {"--config.file=" + config, "--storage.tsdb.path=" + path("data"),
                     "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_)},
                    path("prometheus"));
  ASSERT_TRUE(wait_until_ready(prometheus_port_, "/-/ready", 60s))
      << read_file(path("prometheus.err"));

  // A live run of 6 s, its endpoint kept up after the end until the test has read the final
  // values through Prometheus; then a SIGTERM ends the wait early.
  const pid_t pid = start_vpipe(
      {"run", "-i", "testsrc:size=320x240:rate=30:duration=6", "--realtime", "--vf", "cv.gblur=2",
       "-o", path("out.mkv"), "--metrics", "127.0.0.1:" + std::to_string(vpipe_port),
       "--metrics-linger", "60", "--stats-json", path("stats.json"), "-q"},
      path("vpipe"));
  ASSERT_TRUE(wait_for_file(path("stats.json"), 60s)) << read_file(path("vpipe.err"));
  std::this_thread::sleep_for(3s);  // three scrapes of the final values
  const json stats = this->stats();

  const double frames = value_of("vpipe_frames_total{job='vpipe'}");
  EXPECT_EQ(frames, stats["frames"].get<double>()) << "the last frames are seen";
  EXPECT_GT(frames, 100);
  EXPECT_EQ(value_of("vpipe_run_result{result='complete'}"), 1);
  EXPECT_EQ(value_of("vpipe_run_info{mode='live'}"), 1);
  // The histogram's p99 (histogram_quantile over buckets about 41% wide) lies in the same bucket
  // as the stats JSON's (vpipe's own, 19% wide): within a factor of 1.42.
  const double p99 = value_of("histogram_quantile(0.99, vpipe_latency_seconds_bucket)");
  const double stats_p99 = stats["latency_ms"]["p99"].get<double>() / 1000;
  EXPECT_GT(p99, 0);
  EXPECT_LT(std::abs(std::log(p99 / stats_p99)), std::log(1.42))
      << "histogram " << p99 << " s, stats " << stats_p99 << " s";
  EXPECT_NEAR(value_of("vpipe_latency_seconds_count"), frames, 0.5);

  // Every rule evaluates without error, and the recording rules have values.
  httplib::Client client("127.0.0.1", prometheus_port_);
  const auto res = client.Get("/api/v1/rules");
  ASSERT_TRUE(res && res->status == 200);
  int rules_seen = 0;
  const json rule_groups = json::parse(res->body)["data"]["groups"];
  for (const auto& group : rule_groups) {
    for (const auto& rule : group["rules"]) {
      ++rules_seen;
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
      EXPECT_EQ(rule.value("lastError", ""), "") << rule.dump();
    }
  }
  EXPECT_EQ(rules_seen, 11);
  EXPECT_GT(value_of("vpipe:frames:rate1m"), 0);
  EXPECT_GT(value_of("vpipe:latency_seconds:p99_1m"), 0);
  EXPECT_FALSE(query("vpipe:stage_busy:ratio1m").empty());

  // Every expression of the shipped dashboard returns data from this run.
  std::ifstream file(kSource + "/deploy/grafana/vpipe.json");
  const json dashboard = json::parse(file);
  int expressions = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"];
      expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
      expr = std::regex_replace(expr, std::regex(R"(\$(job|instance))"), ".*");
      ++expressions;
      EXPECT_FALSE(query(expr).empty()) << panel["title"] << ": " << expr;
    }
  }
  EXPECT_GT(expressions, 10);

  const auto signalled = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_vpipe(pid, 20), 0) << "the run itself was complete";
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 5s) << "a stop ends the linger";
  EXPECT_EQ(stop_program(prometheus), 0) << read_file(path("prometheus.err"));
}

TEST_F(PrometheusTest, APushgatewayGetsTheFinalCountsAndTheResult) {
  const int port = free_tcp_port();
  const pid_t gateway =
      start_program("prometheus-pushgateway",
                    {"--web.listen-address=127.0.0.1:" + std::to_string(port)}, path("gateway"));
  ASSERT_TRUE(wait_until_ready(port, "/-/ready", 30s)) << read_file(path("gateway.err"));
  const RunResult r = run_vpipe(
      {"run", "-i", "testsrc:size=320x240:duration=3", "--vf", "cv.gblur=2", "-o", path("out.mkv"),
       "--stats-json", path("stats.json"), "--metrics-push",
       "http://127.0.0.1:" + std::to_string(port) + "/metrics/job/transcode/instance/test", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("warn"))) << r.err;
  const auto res = httplib::Client("127.0.0.1", port).Get("/metrics");
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_THAT(res->body, HasSubstr("vpipe_frames_total{instance=\"test\",job=\"transcode\"} " +
                                   std::to_string(stats()["frames"].get<int>()) + "\n"));
  EXPECT_THAT(
      res->body,
      HasSubstr("vpipe_run_result{instance=\"test\",job=\"transcode\",result=\"complete\"} 1"));

  // A gateway that is gone: the output is whole, so a warning, not a failure.
  EXPECT_EQ(stop_program(gateway), 0);
  const RunResult gone =
      run_vpipe({"run", "-i", "testsrc:size=320x240:duration=1", "-o", path("out2.mkv"),
                 "--metrics-push", "http://127.0.0.1:" + std::to_string(port), "-q"});
  EXPECT_EQ(gone.exit_code, 0);
  EXPECT_EQ(std::count(gone.err.begin(), gone.err.end(), '\n'), 1) << "the warning alone (-q):\n"
                                                                   << gone.err;
  EXPECT_THAT(gone.err, HasSubstr("[warning] cannot push"));
  EXPECT_THAT(gone.err, HasSubstr("cannot push the metrics to http://127.0.0.1:" +
                                  std::to_string(port) + "/metrics/job/vpipe"));
}

}  // namespace
}  // namespace vpipe::test
