// What a user or a monitoring system sees of a run: progress lines and JSON, the metrics
// endpoint scraped by a real HTTP client, and the --stats-json report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

// The report says how the run ended, when, and what it wrote: a complete run and a failed one
// are never alike, whatever a script does with the exit status.
TEST_F(ObservabilityTest, StatsReportTheResultTimesAndOutputSize) {
  const RunResult ok = run_vpipe({"run", "-q", "-i", "testsrc:size=320x240:duration=2", "-o",
                                  path("out.mp4"), "--stats-json", path("ok.json")});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const auto done = nlohmann::json::parse(read_file(path("ok.json")));
  EXPECT_EQ(done.at("result"), "complete");
  EXPECT_EQ(done.at("exit_code"), 0);
  EXPECT_EQ(done.at("output_bytes"), std::filesystem::file_size(path("out.mp4")));
  EXPECT_NEAR(done.at("output_duration_s").get<double>(), 2.0, 0.05);
  EXPECT_GT(done.at("bitrate_bps").get<double>(), 0);
  EXPECT_THAT(done.at("started").get<std::string>(),
              ::testing::MatchesRegex("20..-..-..T..:..:..Z"));
  EXPECT_LE(done.at("started").get<std::string>(), done.at("ended").get<std::string>());

  const RunResult failed = run_vpipe({"run", "-q", "-i", "testsrc:size=160x120:duration=0", "-o",
                                      path("none.mkv"), "--stats-json", path("failed.json")});
  ASSERT_NE(failed.exit_code, 0);
  const auto bad = nlohmann::json::parse(read_file(path("failed.json")));
  EXPECT_EQ(bad.at("result"), "failed");
  EXPECT_EQ(bad.at("exit_code"), failed.exit_code);
  EXPECT_TRUE(bad.at("output_bytes").is_null()) << "no output file is left";
}

TEST_F(ObservabilityTest, ProgressJsonIsOneObjectPerLine) {
  const RunResult r =
      run_vpipe({"run", "-i", "testsrc:size=640x360:duration=20", "--vf", "cv.gblur=4", "-o",
                 "null", "--progress", "json", "--log-level", "warn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.err);
  std::string line;
  int objects = 0;
  std::uint64_t last_frames = 0;
  std::string last_event;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);  // throws (fails the test) on anything else
    last_event = j.at("event");
    if (last_event == "end") {
      EXPECT_EQ(j.at("result"), "complete");
      EXPECT_EQ(j.at("frames"), 600);
      continue;
    }
    EXPECT_GE(j.at("frames").get<std::uint64_t>(), last_frames) << "frames only grow";
    last_frames = j.at("frames");
    EXPECT_EQ(j.at("frames_total"), 600);
    EXPECT_EQ(j.at("stages").size(), 3u);
    ++objects;
  }
  EXPECT_GE(objects, 1) << "a 600-frame blur takes over a second here";
  EXPECT_EQ(last_event, "end") << "the last record says how the run ended";
}

// --progress-file: a file or an open descriptor; the total counts what -ss, -t and -r leave.
TEST_F(ObservabilityTest, ProgressGoesToAFileOrADescriptorAndCountsTheCut) {
  const std::vector<std::string> run = {"run",
                                        "-i",
                                        "testsrc:size=320x240:rate=30:duration=10",
                                        "-ss",
                                        "2",
                                        "-t",
                                        "3",
                                        "-r",
                                        "10",
                                        "-o",
                                        path("out.mkv"),
                                        "-y",
                                        "--progress",
                                        "json"};
  std::vector<std::string> to_file = run;
  to_file.insert(to_file.end(), {"--progress-file", path("progress.jsonl")});
  const RunResult r = run_vpipe(to_file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("{\""), std::string::npos) << "nothing of it on stderr: " << r.err;
  std::string text = read_file(path("progress.jsonl"));
  std::istringstream lines(text);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(lines, line);) records.push_back(nlohmann::json::parse(line));
  ASSERT_GE(records.size(), 2u) << text;
  for (const auto& j : records) EXPECT_EQ(j.at("version"), 1);
  EXPECT_EQ(records[records.size() - 2].at("frames_total"), 30) << "3 s at 10 fps";
  EXPECT_EQ(records.back().at("event"), "end");
  EXPECT_EQ(records.back().at("frames"), 30);
  EXPECT_GT(records.back().at("size_bytes").get<int>(), 0);

  // fd:3, as a program that reads a pipe would give it.
  std::string command = vpipe_binary();
  for (const auto& a : run) command += " '" + a + "'";
  command += " --progress-file fd:3 3>" + path("fd.jsonl") + " 2>/dev/null";
  ASSERT_EQ(shell(command), 0);
  text = read_file(path("fd.jsonl"));
  EXPECT_THAT(text, HasSubstr("\"event\":\"end\"")) << text;

  const RunResult bad = run_vpipe(
      {"run", "-i", "testsrc:duration=1", "-o", path("bad.mkv"), "--progress-file", "fd:77"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("--progress-file 'fd:77'"));
  EXPECT_FALSE(std::filesystem::exists(path("bad.mkv")));
}

TEST_F(ObservabilityTest, PlainProgressLinesWhenNotATerminal) {
  // A long job, stopped once it has run past the 5 s between plain lines.
  const pid_t pid = start_vpipe(
      {"run", "-i", "testsrc:size=1280x720:duration=600", "--vf", "cv.gblur=6", "-o", "null"},
      path("vpipe"));
  std::this_thread::sleep_for(6500ms);
  kill(pid, SIGTERM);
  ASSERT_EQ(wait_vpipe(pid, 20), 255);
  const std::string err = read_file(path("vpipe.err"));
  EXPECT_THAT(err, HasSubstr("vpipe: frame "));
  EXPECT_EQ(err.find('\r'), std::string::npos) << "no carriage returns in a log file";
}

TEST_F(ObservabilityTest, MetricsEndpointServesPrometheusTextWhileRunning) {
  const pid_t pid =
      start_vpipe({"run", "-i", "testsrc:size=640x360:duration=60", "--vf", "cv.gblur=6", "-o",
                   "null", "--metrics", "0", "-q", "--log-level", "info"},
                  path("vpipe"));
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::this_thread::sleep_for(20ms);
    std::smatch m;
    const std::string err = read_file(path("vpipe.err"));
    if (std::regex_search(err, m, std::regex(R"(127\.0\.0\.1:(\d+)/metrics)")))
      port = std::stoi(m[1]);
  }
  ASSERT_GT(port, 0) << read_file(path("vpipe.err"));
  std::this_thread::sleep_for(700ms);
  httplib::Client client("127.0.0.1", port);
  const auto first = client.Get("/metrics");
  std::this_thread::sleep_for(500ms);
  const auto second = client.Get("/metrics");
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_vpipe(pid, 20), 255);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_THAT(first->get_header_value("Content-Type"), HasSubstr("text/plain"));
  EXPECT_THAT(first->body, HasSubstr("# TYPE vpipe_frames_total counter"));
  EXPECT_THAT(first->body, HasSubstr("vpipe_stage_busy_seconds_total{stage=\"xform-0\"}"));
  std::smatch a, b;
  const std::regex frames(R"(vpipe_frames_total (\d+))");
  ASSERT_TRUE(std::regex_search(first->body, a, frames));
  ASSERT_TRUE(std::regex_search(second->body, b, frames));
  EXPECT_GT(std::stoll(b[1]), std::stoll(a[1])) << "the counters are live";
  EXPECT_FALSE(httplib::Client("127.0.0.1", port).Get("/metrics"))
      << "the endpoint closes with the run";
}

TEST_F(ObservabilityTest, MetricsTextfileHoldsTheFinalCountsAndTheResult) {
  const RunResult r = run_vpipe({"run", "-i", "testsrc:size=320x240:duration=2", "-o",
                                 path("out.mkv"), "--metrics-textfile", path("vpipe.prom"),
                                 "--stats-json", path("stats.json"), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_file(path("vpipe.prom"));
  EXPECT_THAT(
      text,
      HasSubstr("\nvpipe_frames_total " +
                std::to_string(
                    nlohmann::json::parse(read_file(path("stats.json")))["frames"].get<int>()) +
                "\n"));
  EXPECT_THAT(text, HasSubstr("vpipe_run_result{result=\"complete\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("vpipe_exit_code 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE vpipe_latency_seconds histogram"));
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 3) << "out.mkv, stats.json, vpipe.prom: no temporary file left";

  // A stopped run says so: interrupted, exit code 255.
  const pid_t pid =
      start_vpipe({"run", "-i", "testsrc:size=320x240:duration=600", "--vf", "cv.gblur=6", "-o",
                   path("long.mkv"), "--metrics-textfile", path("long.prom"), "-q"},
                  path("long"));
  std::this_thread::sleep_for(1500ms);
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_vpipe(pid, 30), 255);
  const std::string stopped = read_file(path("long.prom"));
  EXPECT_THAT(stopped, HasSubstr("vpipe_run_result{result=\"interrupted\"} 1\n"));
  EXPECT_THAT(stopped, HasSubstr("vpipe_exit_code 255\n"));
}

// A stream copy (-c copy, no stage process) reports as any run: the stats JSON, the progress
// records with their end, the metrics textfile; and a stop signal while it waits on a live
// input ends it playable, "interrupted", exit 255.
TEST_F(ObservabilityTest, AStreamCopyReportsAndStopsAsAnyRun) {
  ASSERT_EQ(shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:"
                  "duration=20 -c:v libx264 -g 25 -f mpegts '" +
                  path("in.ts") + "'"),
            0);
  const RunResult r =
      run_vpipe({"run", "-q", "-i", path("in.ts"), "-c", "copy", "-o", path("out.mkv"),
                 "--stats-json", path("stats.json"), "--progress", "json", "--progress-file",
                 path("progress.json"), "--metrics-textfile", path("copy.prom")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_EQ(stats.at("result"), "complete");
  EXPECT_EQ(stats.at("stream_copy"), true);
  EXPECT_EQ(stats.at("frames"), 500);
  EXPECT_EQ(stats.at("output_bytes"), std::filesystem::file_size(path("out.mkv")));
  EXPECT_NEAR(stats.at("output_duration_s").get<double>(), 20.0, 0.05);
  std::istringstream records(read_file(path("progress.json")));
  nlohmann::json end;
  for (std::string line; std::getline(records, line);) end = nlohmann::json::parse(line);
  EXPECT_EQ(end.at("event"), "end");
  EXPECT_EQ(end.at("frames"), 500);
  EXPECT_EQ(end.at("result"), "complete");
  const std::string metrics = read_file(path("copy.prom"));
  EXPECT_THAT(metrics, HasSubstr("\nvpipe_frames_total 500\n"));
  EXPECT_THAT(metrics, HasSubstr("vpipe_run_result{result=\"complete\"} 1\n"));

  // A live feed, copied until a stop signal.
  const int port = free_udp_port();
  const std::string url = "udp://127.0.0.1:" + std::to_string(port);
  const pid_t sender = start_program("ffmpeg",
                                     {"-nostdin", "-v", "error", "-re", "-i", path("in.ts"), "-c",
                                      "copy", "-f", "mpegts", url + "?pkt_size=1316"},
                                     path("sender"));
  const pid_t pid = start_vpipe(
      {"run", "-i", url, "-c", "copy", "-o", path("live.ts"), "--stats-json", path("live.json")},
      path("live"));
  std::this_thread::sleep_for(4s);
  kill(pid, SIGINT);
  EXPECT_EQ(wait_vpipe(pid, 20), 255) << read_file(path("live.err"));
  stop_program(sender);
  const auto live = nlohmann::json::parse(read_file(path("live.json")));
  EXPECT_EQ(live.at("result"), "interrupted");
  const int frames = live.at("frames").get<int>();
  EXPECT_GT(frames, 0);
  EXPECT_LT(frames, 500);
  EXPECT_THAT(read_file(path("live.err")),
              HasSubstr("holds the first " + std::to_string(frames) + " frames (exit 255)"));
  std::string counted;
  FILE* probe = popen(("ffprobe -v quiet -count_packets -select_streams v -show_entries "
                       "stream=nb_read_packets -of csv=p=0 '" +
                       path("live.ts") + "'")
                          .c_str(),
                      "r");
  char buffer[64] = {};
  if (probe != nullptr && std::fgets(buffer, sizeof buffer, probe) != nullptr) counted = buffer;
  if (probe != nullptr) pclose(probe);
  EXPECT_EQ(std::atoi(counted.c_str()), frames) << counted;
}

// Per-stage frame times: a histogram per stage (the workers together) with one count per frame
// each stage handed on, whose sum is the stage's busy time spent on frames.
TEST_F(ObservabilityTest, StageFrameTimesCountEveryFrameAndAddUpToTheWorkersBusyTime) {
  const RunResult r =
      run_vpipe({"run", "-q", "-i", "testsrc:size=640x360:duration=2", "--vf", "gblur=3",
                 "--workers", "2", "-o", path("out.mkv"), "--metrics-textfile", path("run.prom"),
                 "--stats-json", path("stats.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_file(path("run.prom"));
  const auto value = [&](const std::string& series) {
    const std::size_t at = text.find("\n" + series + " ");
    EXPECT_NE(at, std::string::npos) << series << " is not in\n" << text;
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + series.size() + 2));
  };
  for (const char* stage : {"decode", "transform", "encode"}) {
    const std::string labels = std::string("{stage=\"") + stage + "\"}";
    EXPECT_EQ(value("vpipe_stage_frame_seconds_count" + labels), 60) << stage;
    EXPECT_GT(value("vpipe_stage_frame_seconds_sum" + labels), 0) << stage;
    EXPECT_EQ(
        value("vpipe_stage_frame_seconds_bucket{stage=\"" + std::string(stage) + "\",le=\"+Inf\"}"),
        60);
  }
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  double workers_busy = 0;
  for (const auto& st : stats.at("stages"))
    if (st.at("stage").get<std::string>().rfind("xform", 0) == 0)
      workers_busy += st.at("busy_s").get<double>();
  // Every worker's busy time is time on a frame: the sum is it, to the microsecond per frame.
  EXPECT_NEAR(value("vpipe_stage_frame_seconds_sum{stage=\"transform\"}"), workers_busy,
              60 * 2e-6 + 1e-6);
  const auto& transform = stats.at("stage_frame_ms").at("transform");
  EXPECT_GT(transform.at("p50").get<double>(), 0);
  EXPECT_GE(transform.at("p99").get<double>(), transform.at("p50").get<double>());
}

TEST_F(ObservabilityTest, MetricsOptionsAreCheckedBeforeTheRun) {
  const std::vector<std::vector<std::string>> bad = {
      {"--metrics-linger", "5"},
      {"--metrics", "0", "--metrics-linger", "-1"},
      {"--metrics-push", "ftp://127.0.0.1:9091"},
      {"--metrics-push", "https://127.0.0.1:9091"},
      {"--metrics-textfile", path("missing/vpipe.prom")},
  };
  for (const auto& flags : bad) {
    std::vector<std::string> args = {"run", "-i", "testsrc:duration=1", "-o", path("out.mkv")};
    args.insert(args.end(), flags.begin(), flags.end());
    const RunResult r = run_vpipe(args);
    EXPECT_EQ(r.exit_code, 2) << flags[0] << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(flags[flags.size() - 2])) << r.err;
    EXPECT_FALSE(std::filesystem::exists(path("out.mkv"))) << flags[0];
  }
}

// What systemd hears from a Type=notify service: the test is systemd's side of sd_notify(3), a
// datagram socket named by $NOTIFY_SOCKET, with a 400 ms WatchdogSec.
TEST_F(ObservabilityTest, SystemdHearsReadyWatchdogPingsStatusAndStopping) {
  const std::string socket_path = path("notify");
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  setenv("NOTIFY_SOCKET", socket_path.c_str(), 1);
  setenv("WATCHDOG_USEC", "400000", 1);
  const pid_t pid = start_vpipe({"run", "-i", "testsrc:size=320x240:rate=30:duration=60",
                                 "--realtime", "-o", path("out.mkv"), "-q"},
                                path("vpipe"));
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  std::vector<std::string> messages;
  const auto receive_for = [&](std::chrono::milliseconds span) {
    const auto end = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) messages.emplace_back(buffer, static_cast<std::size_t>(n));
    }
  };
  receive_for(3000ms);
  kill(pid, SIGTERM);
  receive_for(1000ms);
  EXPECT_EQ(wait_vpipe(pid, 30), 255);
  receive_for(100ms);
  close(fd);
  const auto first_with = [&](const std::string& text) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].find(text) != std::string::npos) return static_cast<int>(i);
    }
    return -1;
  };
  const auto count_with = [&](const std::string& text) {
    return std::count_if(messages.begin(), messages.end(),
                         [&](const std::string& m) { return m.find(text) != std::string::npos; });
  };
  ASSERT_GE(first_with("READY=1"), 0) << read_file(path("vpipe.err"));
  EXPECT_GT(first_with("WATCHDOG=1"), first_with("READY=1")) << "ready first";
  // Every 200 ms (half the interval) for about 3 s.
  EXPECT_GE(count_with("WATCHDOG=1"), 8);
  EXPECT_GE(first_with("STATUS=frame "), 0) << "the progress line as the status";
  EXPECT_GT(first_with("STOPPING=1"), first_with("READY=1"));
  EXPECT_EQ(count_with("STOPPING=1"), 1);
}

TEST_F(ObservabilityTest, MetricsAddressMustBeValid) {
  const RunResult r =
      run_vpipe({"run", "-i", "testsrc:duration=1", "-o", "null", "--metrics", "notaport"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--metrics"));
}

TEST_F(ObservabilityTest, StatsReportHasEveryStageAndTheRunsFigures) {
  const RunResult r = run_vpipe({"run", "-q", "-i", "testsrc:size=320x240:duration=2", "--vf",
                                 "resize=160x120", "-o", path("o.mkv"), "-c:v", "ffv1", "--workers",
                                 "2", "--stats-json", path("s.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto sut = nlohmann::json::parse(read_file(path("s.json")));
  EXPECT_EQ(sut.at("frames"), 60);
  EXPECT_GT(sut.at("fps").get<double>(), 0);
  EXPECT_EQ(sut.at("restarts"), 0);
  EXPECT_EQ(sut.at("drops").at("total"), 0);
  EXPECT_GT(sut.at("latency_ms").at("p50").get<double>(), 0);
  EXPECT_GE(sut.at("latency_ms").at("p99").get<double>(),
            sut.at("latency_ms").at("p50").get<double>());
  EXPECT_GE(sut.at("rings").at("decoded").at("high_water").get<int>(), 1);
  EXPECT_THAT(sut.at("versions").at("libavcodec").get<std::string>(), HasSubstr("Lavc"));
  ASSERT_EQ(sut.at("stages").size(), 4u);
  std::uint64_t through_workers = 0;
  for (const auto& s : sut.at("stages")) {
    EXPECT_EQ(s.at("exit"), "exited with code 0") << s.at("stage");
    // The test source's pictures are copied once, into their slots by decode; nothing after.
    EXPECT_EQ(s.at("frames_copied"), s.at("stage") == "decode" ? 60 : 0) << s.at("stage");
    EXPECT_GT(s.at("peak_rss_kib").get<long>(), 0) << s.at("stage");
    if (s.at("stage").get<std::string>().rfind("xform-", 0) == 0)
      through_workers += s.at("frames_out").get<std::uint64_t>();
  }
  EXPECT_EQ(through_workers, 60u) << "the workers between them handled every frame";
  EXPECT_EQ(sut.at("plan").at("nb_workers"), 2);
}

}  // namespace
}  // namespace vpipe::test
