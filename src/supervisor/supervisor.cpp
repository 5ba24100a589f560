#include "supervisor/supervisor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/core/version.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/av.hpp"

extern "C" {
#include <libavcodec/version.h>
#include <libavformat/version.h>
}
#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/exit_status.hpp"
#include "common/files.hpp"
#include "common/line_pipe.hpp"
#include "common/process_title.hpp"
#include "common/signals.hpp"
#include "plan/run_plan.hpp"
#include "report/metrics_server.hpp"
#include "report/progress.hpp"
#include "shm/credits.hpp"
#include "shm/end_of_stream.hpp"
#include "shm/run_segment.hpp"
#include "stage/launch.hpp"
#include "stage/stage_main.hpp"

namespace vpipe::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// After an abort, stages get this long to notice before they are killed.
constexpr std::chrono::seconds kAbortGrace{2};
// Stop signals closer than this to the first are the same request (see on_signal).
constexpr std::chrono::milliseconds kSameStopRequest{50};

struct Child {
  StageId id;
  std::string name;  // id.name()
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  long peak_rss_kib = 0;         // the largest of its processes (a restarted worker has several)
  std::uint64_t started_ns = 0;  // CLOCK_MONOTONIC at spawn: a stage stuck before its first beat
  // Decode and encode may spend long in one library call (a slow encoder's frame, its flush):
  // silence counts as stuck only while their CPU time stands still too.
  std::uint64_t cpu_ticks = 0;
  std::uint64_t cpu_moved_ns = 0;  // when cpu_ticks last changed
};

// User and system CPU time of `pid`, in clock ticks (0 if it cannot be read).
std::uint64_t cpu_ticks_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  // The command name may hold spaces: the fields after it start past its closing parenthesis.
  const std::size_t end = text.rfind(')');
  if (end == std::string::npos) return 0;
  std::istringstream fields(text.substr(end + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return utime + stime;
}

// The numbered entries of a /proc/self listing (threads, descriptors), less the descriptor of
// the listing itself.
std::vector<int> listed_numbers(const char* dir) {
  std::vector<int> numbers;
  DIR* listing = opendir(dir);
  if (listing == nullptr) return numbers;
  while (const dirent* e = readdir(listing)) {
    if (e->d_name[0] != '.') numbers.push_back(std::atoi(e->d_name));
  }
  const int own = dirfd(listing);
  closedir(listing);
  std::erase(numbers, own);
  return numbers;
}

// A forked copy of this process can run a stage as it is, without exec, only while this process
// has one thread: a lock another thread held at fork would stay locked in the copy forever.
bool single_threaded() {
  return listed_numbers("/proc/self/task").size() == 1;
}

// In a forked copy that runs a stage without exec: closes what exec would have, every
// descriptor marked close-on-exec (the parent's ends of the stage pipes among them).
void close_on_exec_descriptors() {
  for (const int fd : listed_numbers("/proc/self/fd")) {
    const int flags = fcntl(fd, F_GETFD);
    if (fd > 2 && flags >= 0 && (flags & FD_CLOEXEC) != 0) close(fd);
  }
}

// `pipe_fds`: decode's request and reply pipes (child ends), for the probe before the run.
// `start_fd`: encode's and the workers' start pipe, when started before the run is planned.
//
// While the scheduler has one thread (the start of a run), the child is a forked copy that runs
// the stage at once: loading the binary and its 150 libraries again would cost each stage about
// 30 ms of CPU before its first frame. Later (a restarted worker, with the metrics server's
// thread running) it execs /proc/self/exe, a fresh image.
pid_t spawn(StageId id, int fd, const sigset_t& original_mask,
            std::pair<int, int> pipe_fds = {-1, -1}, int start_fd = -1) {
  const stage::LaunchArgs launch{id, fd, getpid(), start_fd, pipe_fds.first, pipe_fds.second};
  const std::vector<std::string> args = launch.to_argv();
  const std::string& argv0 = args[0];
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const bool copy = single_threaded();
  if (copy) std::fflush(nullptr);  // nothing buffered here is written twice
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls before exec. A copy (of a single-threaded scheduler: no lock
    // can be held) runs the stage itself.
    sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    if (pipe_fds.first >= 0) {
      fcntl(pipe_fds.first, F_SETFD, 0);
      fcntl(pipe_fds.second, F_SETFD, 0);
    }
    if (start_fd >= 0) fcntl(start_fd, F_SETFD, 0);
    if (copy) {
      close_on_exec_descriptors();
      set_process_title(argv0);  // not the scheduler's command line
      std::exit(stage::stage_main(static_cast<int>(args.size()), const_cast<char**>(argv.data())));
    }
    execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  if (pid < 0)
    fail(ExitCode::kRunFailed,
         std::string("cannot start a stage process: ") + std::strerror(errno));
  return pid;
}

class Supervisor {
 public:
  // A stage process already started (decode, and encode and the workers, which start while
  // decode opens the input).
  struct Started {
    StageId id;
    pid_t pid = -1;
  };

  Supervisor(const plan::RunPlan& plan, const plan::RunOptions& options, shm::RunSegment& segment,
             const sigset_t& original_mask, report::MetricsServer* metrics,
             std::vector<Started> started)
      : started_(std::move(started)),
        plan_(plan),
        options_(options),
        segment_(segment),
        metrics_(metrics),
        original_mask_(original_mask) {}

  int run() {
    start_ = Clock::now();
    last_progress_ = start_;
    // Every stage already runs: decode opened the input to plan the run; encode and the workers
    // loaded meanwhile. All were told "go" once the segment was laid out.
    for (const Started& s : started_) {
      adopt_child(s.id, s.pid);
    }
    supervise();
    // A last update, so a program reading --progress json sees the final counts.
    if (options_.progress == "json") print_progress(true);
    finish_progress_line();
    return report();
  }

  nlohmann::json stats_json() const;
  report::ProgressSample sample() const;
  std::string exit_text(const std::string& stage) const;

 private:
  void adopt_child(StageId id, pid_t pid) {
    Child c;
    c.id = id;
    c.name = id.name();
    c.pid = pid;
    c.started_ns = monotonic_ns();
    c.running = true;
    children_.push_back(c);
  }

  [[nodiscard]] bool any_running() const {
    for (const auto& c : children_) {
      if (c.running) return true;
    }
    return false;
  }

  void reap() {
    for (auto& c : children_) {
      if (!c.running) continue;
      int status = 0;
      rusage usage{};
      if (wait4(c.pid, &status, WNOHANG, &usage) != c.pid) continue;
      c.running = false;
      c.status = status;
      c.peak_rss_kib = std::max(c.peak_rss_kib, usage.ru_maxrss);
      if (!failed(status) || aborting_) continue;
      if (c.id.role == StageRole::kWorker && WIFSIGNALED(status) && restart_worker(c)) continue;
      if (c.id.role == StageRole::kDecode && WIFSIGNALED(status)) {
        drain_after_decode_death(c);
        continue;
      }
      if (c.id.role == StageRole::kEncode && WIFSIGNALED(status)) {
        record_error("encode " + describe_status(status) +
                     "; the output holds what was written before (" +
                     "fragmented MP4 and Matroska stay playable)");
      }
      spdlog::debug("{} {}", c.name, describe_status(status));
      begin_abort();
    }
  }

  // A transform worker that crashed (or was killed) is replaced on the same CPUs; what it held
  // is requeued first, so no frame is lost and the output is what a fault-free run gives.
  bool restart_worker(Child& c) {
    shm::StageStats& stats = segment_.control().stage(c.id);
    if (restarts_ >= plan_.max_restarts) {
      record_error("transform worker " + c.name + " " + describe_status(c.status) +
                   ", and the restart budget (" + std::to_string(plan_.max_restarts) +
                   ", --max-restarts) is spent");
      return false;
    }
    const auto reclaimed = segment_.reclaim(c.pid, stats);
    ++restarts_;
    stats.restarts.fetch_add(1);
    if (stats.eos_state.load() == static_cast<std::uint32_t>(shm::EosState::kForwarded)) {
      spdlog::warn("{} {} after finishing its work; not restarted", c.name,
                   describe_status(c.status));
      c.status = 0;
      return true;
    }
    finish_progress_line();
    spdlog::warn("{} {}: restarted, {} frame(s) requeued{}", c.name, describe_status(c.status),
                 reclaimed.requeued,
                 reclaimed.end_of_stream_restored ? " (and its end-of-stream marker)" : "");
    c.pid = spawn(c.id, segment_.fd(), original_mask_);
    c.started_ns = monotonic_ns();
    c.running = true;
    c.status = 0;
    return true;
  }

  // Without decode no more frames come, but those already decoded can still be finished: end
  // the stream on decode's behalf so that encode writes a complete, playable file.
  void drain_after_decode_death(const Child& c) {
    shm::ControlBlock& control = segment_.control();
    // The run ends early: encode ends the audio where the video ends, as after a stop signal,
    // rather than copying it to the end of the input.
    control.stop_input.store(1);
    segment_.reclaim(c.pid, control.stage(c.id));
    // Decode may have pushed some or all of its markers before it died: only the missing ones.
    shm::FrameRing decoded = segment_.decoded_ring();
    if (!shm::send_end_of_stream(segment_.markers_missing(), [&] {
          return decoded.push_end_of_stream_for(std::chrono::seconds(1));
        }))
      begin_abort();
    record_error("decode " + describe_status(c.status) + "; the output was finished with the " +
                 std::to_string(control.stage(c.id).frames_out.load()) + " frames decoded before");
  }

  // A worker that shows no sign of life for --hang-timeout is killed; the restart then requeues
  // its frames like after a crash. A worker waiting for input beats at every poll, so silence
  // means stuck — whether it holds frames or an end-of-stream marker waits for it.
  // Decode and encode get the same watchdog, where silence must also come with no CPU time spent
  // (stopped with SIGSTOP, or blocked for good): killed, their death ends the run as a crash
  // would, with the reason first. Decode waiting on an input it was told to wait for
  // (--input-timeout 0) is left alone.
  void kill_hung_stages() {
    if (options_.hang_timeout_s <= 0 || aborting_) return;
    const std::uint64_t now = monotonic_ns();
    const auto limit = static_cast<std::uint64_t>(options_.hang_timeout_s * 1e9);
    for (auto& c : children_) {
      if (!c.running) continue;
      const std::uint64_t beat =
          std::max(c.started_ns, segment_.control().stage(c.id).heartbeat_ns.load());
      if (now < beat + limit) continue;
      if (c.id.role != StageRole::kWorker) {
        if (c.id.role == StageRole::kDecode && options_.input_timeout_s <= 0) continue;
        const std::uint64_t cpu = cpu_ticks_of(c.pid);
        if (cpu != c.cpu_ticks || c.cpu_moved_ns == 0) {
          c.cpu_ticks = cpu;
          c.cpu_moved_ns = now;
        }
        if (now < std::max(beat, c.cpu_moved_ns) + limit) continue;
        record_error(
            fmt::format("{} made no progress for {:.1f} s (stopped, or stuck): killed "
                        "(--hang-timeout)",
                        role_name(c.id.role), static_cast<double>(now - beat) / 1e9));
      } else {
        finish_progress_line();
        spdlog::warn("{} silent for {:.1f} s: killing it", c.name,
                     static_cast<double>(now - beat) / 1e9);
      }
      kill(c.pid, SIGKILL);
    }
  }

  void record_error(const std::string& text) {
    shm::record_first_error(segment_.control(), static_cast<int>(ExitCode::kRunFailed), text);
  }

  void begin_abort() {
    aborting_ = true;
    abort_started_ = Clock::now();
    segment_.control().abort.store(1);
  }

  void kill_all() {
    for (const auto& c : children_) {
      if (c.running) kill(c.pid, SIGKILL);
    }
  }

  void supervise() {
    sigset_t wait_set;
    sigemptyset(&wait_set);
    sigaddset(&wait_set, SIGCHLD);
    for (const int stop : kStopSignals) sigaddset(&wait_set, stop);
    while (any_running()) {
      const timespec tick{0, 200'000'000};
      const int sig = sigtimedwait(&wait_set, nullptr, &tick);
      if (sig > 0 && sig != SIGCHLD) on_signal(sig);
      reap();
      kill_hung_stages();
      end_a_stuck_drain();
      if (aborting_ && Clock::now() - abort_started_ > kAbortGrace) kill_all();
      print_progress(false);
      if (metrics_ != nullptr) metrics_->publish(prometheus_text(sample()));
    }
  }

  // A drain that outlives --drain-timeout (a stage stopped with SIGSTOP, or wedged) would hold
  // `timeout`, `docker stop` and systemd until their SIGKILL: abort it, saying which stages were
  // still running.
  void end_a_stuck_drain() {
    if (signals_ == 0 || aborting_ || options_.drain_timeout_s <= 0) return;
    if (Clock::now() - first_signal_ < std::chrono::duration<double>(options_.drain_timeout_s))
      return;
    std::string running;
    for (const auto& c : children_) {
      if (c.running) running += (running.empty() ? "" : ", ") + c.name;
    }
    record_error("the stop did not finish within " + fmt::format("{:g}", options_.drain_timeout_s) +
                 " s (--drain-timeout; still running: " + running +
                 "): aborted, the output ends where it stopped");
    begin_abort();
    kill_all();
  }

  void on_signal(int sig) {
    // `timeout` sends its signal to vpipe and then to vpipe's process group, and a terminal's
    // hang-up may come with a TERM: signals this close together are one request to stop.
    const auto now = Clock::now();
    if (signals_ > 0 && now - first_signal_ < kSameStopRequest) return;
    if (++signals_ == 1) {
      first_signal_ = now;
      finish_progress_line();
      spdlog::info(
          "{}: finishing: no more input is read, frames in flight are encoded (again to abort)",
          sigabbrev_np(sig));
      segment_.control().stop_input.store(1);
      return;
    }
    interrupted_ = true;
    begin_abort();
    kill_all();
  }

  // A redrawn line on a terminal; a plain line every few seconds otherwise; JSON objects, one
  // per second, with --progress json.
  void print_progress(bool force) {
    if (plan_.quiet || options_.progress == "none") return;
    const bool json = options_.progress == "json";
    const bool tty = !json && isatty(STDERR_FILENO);
    const auto interval = json  ? std::chrono::milliseconds(1000)
                          : tty ? std::chrono::milliseconds(500)
                                : std::chrono::milliseconds(5000);
    const auto now = Clock::now();
    if (!force && now - last_progress_ < interval) return;
    last_progress_ = now;
    const report::ProgressSample snapshot = sample();
    if (json) {
      std::fprintf(stderr, "%s\n", progress_json(snapshot).c_str());
    } else if (tty) {
      std::fprintf(stderr, "\r%s\033[K", progress_line(snapshot).c_str());
      progress_shown_ = true;
    } else {
      std::fprintf(stderr, "vpipe: %s\n", progress_line(snapshot).c_str());
    }
  }

  void finish_progress_line() {
    if (progress_shown_) std::fputc('\n', stderr);
    progress_shown_ = false;
  }

  int report() {
    const auto& control = segment_.control();
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    if (interrupted_) {
      std::fprintf(stderr, "vpipe: error: aborted by a second signal; the output is incomplete\n");
      return static_cast<int>(ExitCode::kInterrupted);
    }
    if (control.error_claimed.load() != 0) {
      std::fprintf(stderr, "vpipe: error: %s\n", control.error_text);
      return control.error_code;
    }
    for (const auto& c : children_) {
      if (failed(c.status)) {
        std::fprintf(stderr, "vpipe: error: stage %s %s\n", c.name.c_str(),
                     describe_status(c.status).c_str());
        return static_cast<int>(ExitCode::kRunFailed);
      }
    }
    const std::uint64_t frames = control.stage(StageId::encode()).frames_out.load();
    const std::uint64_t errors = control.stage(StageId::decode()).errors.load();
    const double fps = secs > 0 ? static_cast<double>(frames) / secs : 0;
    spdlog::info("{} frames in {:.2f} s: {:.1f} fps, {:.2f}x real time, {} workers{}{} -> {}",
                 frames, secs, fps, fps / av_q2d(plan_.input_info.frame_rate), plan_.nb_workers,
                 restarts_ ? ", " + std::to_string(restarts_) + " worker restarts" : "",
                 errors ? ", " + std::to_string(errors) + " damaged input packets skipped" : "",
                 plan_.null_output ? "null" : plan_.encoder.output);
    wall_s_ = secs;
    if (plan_.live) report_live();
    if (signals_ > 0) {
      // Finished and playable, but not all of the input: a script, a batch system or a
      // Kubernetes Job must not take it for a complete run.
      if (frames == 0) {
        std::fprintf(stderr, "vpipe: stopped by a signal before the first frame (exit %d)\n",
                     static_cast<int>(ExitCode::kStopped));
      } else {
        std::fprintf(stderr,
                     "vpipe: stopped by a signal: %s holds the first %llu frames (exit %d)\n",
                     plan_.null_output ? "the run" : plan_.encoder.output.c_str(),
                     static_cast<unsigned long long>(frames), static_cast<int>(ExitCode::kStopped));
      }
      return static_cast<int>(ExitCode::kStopped);
    }
    return 0;
  }

  // Live: latency percentiles and what each stage dropped, and why.
  void report_live() const {
    const report::ProgressSample p = sample();
    const auto ms = [&](double q) { return p.latency_ms(q); };
    std::string drops;
    for (const auto& s : p.stages) {
      if (s.drops_late + s.drops_full == 0) continue;
      drops += (drops.empty() ? "" : ", ") + s.name + " " +
               std::to_string(s.drops_late + s.drops_full) + " (";
      if (s.drops_late) drops += std::to_string(s.drops_late) + " late";
      if (s.drops_late && s.drops_full) drops += ", ";
      if (s.drops_full) drops += std::to_string(s.drops_full) + " pipeline full";
      drops += ")";
    }
    const std::uint64_t decoded = segment_.control().stage(StageId::decode()).frames_in.load();
    spdlog::info(
        "live: latency capture->packet p50 {:.0f} ms, p95 {:.0f}, p99 {:.0f}, max {:.0f} (budget "
        "{:.0f} ms); {} of {} frames dropped{}{}",
        ms(0.5), ms(0.95), ms(0.99), ms(1.0), plan_.latency_budget_ms, p.drops, decoded,
        drops.empty() ? "" : ": ", drops);
    if (decoded > 0 && p.frames_done == 0) {
      spdlog::warn(
          "every frame was dropped: the pipeline cannot finish a frame within the {} ms "
          "budget (raise --latency-budget, add --workers, or lighten the chain)",
          plan_.latency_budget_ms);
    }
  }

  std::vector<Started> started_;
  const plan::RunPlan& plan_;
  const plan::RunOptions& options_;
  shm::RunSegment& segment_;
  report::MetricsServer* metrics_;
  const sigset_t& original_mask_;
  std::vector<Child> children_;
  Clock::time_point start_;
  Clock::time_point last_progress_;
  Clock::time_point abort_started_;
  bool aborting_ = false;
  bool interrupted_ = false;
  bool progress_shown_ = false;
  int signals_ = 0;
  Clock::time_point first_signal_;
  int restarts_ = 0;
  double wall_s_ = 0;
};

std::string Supervisor::exit_text(const std::string& stage) const {
  for (const auto& c : children_) {
    if (c.name == stage) return c.running ? "running" : describe_status(c.status);
  }
  return "unknown";
}

report::ProgressSample Supervisor::sample() const {
  shm::ControlBlock& control = segment_.control();
  report::ProgressSample p;
  p.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  p.frames_done = control.stage(StageId::encode()).frames_out.load();
  p.frames_total = plan_.input_info.nb_frames;
  p.input_fps = av_q2d(plan_.input_info.frame_rate);
  p.window = plan_.window;
  p.in_flight = plan_.window - static_cast<std::uint32_t>(std::clamp(
                                   shm::credits_free(control), 0, static_cast<int>(plan_.window)));
  shm::FrameRing decoded = segment_.decoded_ring();
  shm::FrameRing filtered = segment_.filtered_ring();
  p.decoded_queue = decoded.size();
  p.filtered_queue = filtered.size();
  p.decoded_high_water = decoded.high_water();
  p.filtered_high_water = filtered.high_water();
  p.restarts = static_cast<std::uint64_t>(restarts_);
  for (const auto& b : control.latency_buckets)
    p.latency_buckets.push_back(b.load(std::memory_order_relaxed));
  p.latency_max_us = static_cast<double>(control.latency_max_us.load());
  // Pipeline order (decode, workers, encode), whatever the start order was.
  std::vector<const Child*> ordered;
  for (const auto& c : children_) ordered.push_back(&c);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Child* a, const Child* b) { return a->id.role < b->id.role; });
  for (const Child* child : ordered) {
    const Child& c = *child;
    const auto& st = control.stage(c.id);
    report::StageSample s;
    s.name = c.name;
    s.pid = c.pid;
    s.cpus = plan_.cpus_of(c.name);
    s.frames_in = st.frames_in.load();
    s.frames_out = st.frames_out.load();
    s.busy_s = static_cast<double>(st.busy_ns.load()) / 1e9;
    s.wait_s = static_cast<double>(st.wait_ns.load()) / 1e9;
    s.bytes_copied = st.bytes_copied.load();
    s.frames_copied = st.frames_copied.load();
    s.errors = st.errors.load();
    s.restarts = st.restarts.load();
    s.drops_late = st.drops_late.load();
    s.drops_full = st.drops_full.load();
    p.drops += s.drops_late + s.drops_full;
    s.peak_rss_kib = c.peak_rss_kib;
    p.stages.push_back(s);
  }
  return p;
}

nlohmann::json Supervisor::stats_json() const {
  const report::ProgressSample p = sample();
  nlohmann::json stages = nlohmann::json::array();
  for (std::size_t i = 0; i < p.stages.size(); ++i) {
    const auto& s = p.stages[i];
    stages.push_back({{"stage", s.name},
                      {"pid", s.pid},
                      {"cpus", s.cpus},
                      {"exit", exit_text(s.name)},
                      {"frames_in", s.frames_in},
                      {"frames_out", s.frames_out},
                      {"drops", {{"late", s.drops_late}, {"ring_full", s.drops_full}}},
                      {"busy_s", s.busy_s},
                      {"wait_s", s.wait_s},
                      {"busy_percent", wall_s_ > 0 ? 100 * s.busy_s / wall_s_ : 0},
                      {"bytes_copied", s.bytes_copied},
                      {"frames_copied", s.frames_copied},
                      {"errors", s.errors},
                      {"restarts", s.restarts},
                      {"peak_rss_kib", s.peak_rss_kib}});
  }
  const auto pct = [&](double q) { return p.latency_ms(q); };
  const std::optional<shm::PacketRing> audio = segment_.audio_ring();
  std::uint64_t late = 0, full = 0;
  for (const auto& s : p.stages) {
    late += s.drops_late;
    full += s.drops_full;
  }
  return {{"versions",
           {{"vpipe", VPIPE_VERSION},
            {"libavformat", LIBAVFORMAT_IDENT},
            {"libavcodec", LIBAVCODEC_IDENT},
            {"opencv", CV_VERSION}}},
          {"frames", p.frames_done},
          {"wall_s", wall_s_},
          {"fps", wall_s_ > 0 ? static_cast<double>(p.frames_done) / wall_s_ : 0},
          {"live", plan_.live},
          {"latency_budget_ms",
           plan_.live ? nlohmann::json(plan_.latency_budget_ms) : nlohmann::json()},
          {"frames_decoded", segment_.control().stage(StageId::decode()).frames_in.load()},
          {"drops", {{"total", late + full}, {"late", late}, {"ring_full", full}}},
          {"decode_errors", segment_.control().stage(StageId::decode()).errors.load()},
          // A live input's audio travels beside the frames and is dropped, never waited for,
          // when encode falls behind: null when decode does not carry the audio.
          {"audio_packets_dropped", audio ? nlohmann::json(audio->dropped()) : nlohmann::json()},
          {"restarts", restarts_},
          {"latency_ms",
           {{"p50", pct(0.5)}, {"p95", pct(0.95)}, {"p99", pct(0.99)}, {"max", pct(1.0)}}},
          {"rings",
           {{"decoded", {{"high_water", p.decoded_high_water}}},
            {"filtered", {{"high_water", p.filtered_high_water}}}}},
          {"stages", stages},
          {"plan", nlohmann::json::parse(plan::to_json(plan_))}};
}

}  // namespace

namespace {

// Blocks the signals the supervisor takes synchronously; children get the original mask back.
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    for (const int stop : kStopSignals) sigaddset(&blocked, stop);
    sigprocmask(SIG_BLOCK, &blocked, &original_);
  }
  ~SignalBlock() { sigprocmask(SIG_SETMASK, &original_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  [[nodiscard]] const sigset_t& original() const { return original_; }

 private:
  sigset_t original_;
};

// Decode, started before the run is planned: it opens the input (once: a stream, a camera or
// stdin cannot be opened twice), answers with what it found, and waits for "go".
class DecodeLauncher {
 public:
  DecodeLauncher(const plan::RunPlan& stages, int segment_fd, const sigset_t& original_mask) {
    int request[2], reply[2];
    if (pipe2(request, O_CLOEXEC) != 0 || pipe2(reply, O_CLOEXEC) != 0)
      fail(ExitCode::kRunFailed, std::string("cannot create a pipe: ") + std::strerror(errno));
    pid_ = spawn(StageId::decode(), segment_fd, original_mask, {request[0], reply[1]});
    close(request[0]);
    close(reply[1]);
    request_fd_ = request[1];
    reply_fd_ = reply[0];
    const stage::OpenRequest open_request{stages.input, stages.open_settings(),
                                          stages.cpus_of(StageId::decode().name()),
                                          stages.log_level, stages.log_file};
    write_line(request_fd_, open_request.to_line());
  }
  ~DecodeLauncher() {
    if (request_fd_ >= 0) close(request_fd_);
    if (reply_fd_ >= 0) close(reply_fd_);
    if (pid_ > 0) {
      // Not handed to the supervisor: planning failed. Without "go" decode exits by itself.
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  DecodeLauncher(const DecodeLauncher&) = delete;
  DecodeLauncher& operator=(const DecodeLauncher&) = delete;

  // Decode's description of the input, or its one-line error as a vpipe::Error. A first
  // SIGINT/SIGTERM stops the wait (a live source may take long to start sending).
  decode::InputInfo wait_for_input() {
    sigset_t stop;
    sigemptyset(&stop);
    for (const int sig : kStopSignals) sigaddset(&stop, sig);
    const timespec now{0, 0};
    while (!readable(reply_fd_, 200)) {
      const int sig = sigtimedwait(&stop, nullptr, &now);
      if (sig > 0) {
        fail(ExitCode::kStopped, "stopped by a signal (" + std::string(sigabbrev_np(sig)) +
                                     ") while the input was opening: nothing written (exit " +
                                     std::to_string(static_cast<int>(ExitCode::kStopped)) + ")");
      }
    }
    const auto line = read_line(reply_fd_);
    if (!line) {
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
      fail(ExitCode::kRunFailed, "decode " + describe_status(status) + " while opening the input");
    }
    return stage::parse_open_reply(*line);
  }

  // The segment is laid out: decode attaches and starts. The supervisor owns it from here.
  pid_t go() {
    write_line(request_fd_, std::string(stage::kGo));
    close(request_fd_);
    request_fd_ = -1;
    return std::exchange(pid_, -1);
  }

 private:
  pid_t pid_ = -1;
  int request_fd_ = -1;
  int reply_fd_ = -1;
};

// Encode and the workers, started while decode opens the input, so that their start-up (loading
// the binary and its libraries, about 0.15 s here) overlaps decode's instead of following it.
// Each waits for one byte on the start pipe before it attaches the segment; closing the pipe
// unsent (planning failed, or a signal) makes them exit quietly.
class Prestarted {
 public:
  Prestarted(const plan::RunPlan& stages, int segment_fd, const sigset_t& original_mask) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
      fail(ExitCode::kRunFailed, std::string("cannot create a pipe: ") + std::strerror(errno));
    write_fd_ = fds[1];
    started_.push_back(
        {StageId::encode(), spawn(StageId::encode(), segment_fd, original_mask, {-1, -1}, fds[0])});
    for (int i = 0; i < stages.nb_workers; ++i) {
      const StageId worker = StageId::transform_worker(i);
      started_.push_back({worker, spawn(worker, segment_fd, original_mask, {-1, -1}, fds[0])});
    }
    close(fds[0]);
  }
  ~Prestarted() {
    if (write_fd_ >= 0) close(write_fd_);
    for (const auto& s : started_) waitpid(s.pid, nullptr, 0);
  }
  Prestarted(const Prestarted&) = delete;
  Prestarted& operator=(const Prestarted&) = delete;

  // The segment is laid out: one byte each, and the supervisor owns them from here.
  std::vector<Supervisor::Started> go() {
    const std::string bytes(started_.size(), 'g');
    if (::write(write_fd_, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
      fail(ExitCode::kRunFailed, "cannot start the stages: " + std::string(std::strerror(errno)));
    close(write_fd_);
    write_fd_ = -1;
    return std::exchange(started_, {});
  }

 private:
  int write_fd_ = -1;
  std::vector<Supervisor::Started> started_;
};

}  // namespace

namespace {
// A failed run that wrote no frame leaves no file to be taken for an output: a container header
// alone is not one (-ss past the end, a decoder that gives nothing). A file this run did not
// write (encode failed before opening it) is left alone.
void remove_empty_output(const plan::RunPlan& plan, std::uint64_t frames_written,
                         std::filesystem::file_time_type run_began) {
  const std::string& out = plan.encoder.output;
  std::error_code error;
  if (plan.null_output || frames_written > 0 || out.find("://") != std::string::npos ||
      !std::filesystem::is_regular_file(out, error) ||
      std::filesystem::last_write_time(out, error) < run_began)
    return;
  std::filesystem::remove(out, error);
}
}  // namespace

namespace {

// A report written at the end must be writable from the start: a run must not transcode for an
// hour and then fail on the report (a usage error, as --log-file's).
void check_writable(const std::string& flag, const std::string& path) {
  if (const std::string why = cannot_write(path); !why.empty())
    fail(ExitCode::kUsage, flag + " '" + path + "' cannot be written: " + why);
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
  return text;
}

}  // namespace

int run(const plan::RunOptions& options) {
  const auto run_began = std::filesystem::file_time_type::clock::now();
  const auto run_began_utc = std::chrono::system_clock::now();
  // From here a stop signal is a request the supervisor answers (it waits, blocked, until then):
  // one that comes while the topology is read or the input probed must not kill the run by its
  // default action.
  const SignalBlock signals;
  if (!options.stats_json.empty()) check_writable("--stats-json", options.stats_json);
  av::route_logs_to_spdlog(/*quiet=*/true);
  const affinity::Topology topology = affinity::read_topology();
  if (options.dry_run) {
    const plan::RunPlan plan = plan::make_plan(options, topology);
    std::fputs(plan::describe(plan).c_str(), stdout);
    return 0;
  }
  const plan::RunPlan stages = plan::plan_stages(options, topology);
  int segment_fd = shm::RunSegment::create_fd();
  struct FdCloser {
    int& fd;
    ~FdCloser() {
      if (fd >= 0) close(fd);
    }
  } close_unless_used{segment_fd};
  DecodeLauncher decode(stages, segment_fd, signals.original());
  Prestarted others(stages, segment_fd, signals.original());
  const plan::RunPlan plan = plan::make_plan(options, stages, decode.wait_for_input());
  spdlog::debug("plan:\n{}", plan::describe(plan));
  if (plan.cpus.shared) spdlog::debug("{}", plan.cpus.note);

  shm::RunSegment segment =
      shm::RunSegment::create(plan.segment_spec(), std::exchange(segment_fd, -1));
  std::unique_ptr<report::MetricsServer> metrics;
  if (!options.metrics.empty()) {
    metrics = std::make_unique<report::MetricsServer>(options.metrics);
    spdlog::info("serving metrics on http://{}:{}/metrics",
                 options.metrics.rfind(':') == std::string::npos
                     ? "127.0.0.1"
                     : options.metrics.substr(0, options.metrics.rfind(':')),
                 metrics->port());
  }
  std::vector<Supervisor::Started> started = others.go();
  started.insert(started.begin(), Supervisor::Started{StageId::decode(), decode.go()});
  Supervisor supervisor(plan, options, segment, signals.original(), metrics.get(),
                        std::move(started));
  segment.populate_slots();
  const int code = supervisor.run();
  if (code != 0) {
    remove_empty_output(plan, segment.control().stage(StageId::encode()).frames_out.load(),
                        run_began);
  }
  if (!options.stats_json.empty()) {
    nlohmann::json stats = supervisor.stats_json();
    // What the run came to, for whoever reads the report instead of the exit status.
    stats["result"] = code == 0                                      ? "complete"
                      : code == static_cast<int>(ExitCode::kStopped) ? "interrupted"
                                                                     : "failed";
    stats["exit_code"] = code;
    stats["started"] = utc_text(run_began_utc);
    stats["ended"] = utc_text(std::chrono::system_clock::now());
    std::error_code ec;
    const auto bytes = plan.null_output ? 0 : std::filesystem::file_size(plan.encoder.output, ec);
    stats["output_bytes"] = ec ? nlohmann::json() : nlohmann::json(bytes);
    const AVRational rate =
        plan.output_rate.num > 0 ? plan.output_rate : plan.input_info.frame_rate;
    const double seconds = rate.num > 0 ? stats.value("frames", 0.0) / av_q2d(rate) : 0.0;
    stats["output_duration_s"] = seconds;
    stats["bitrate_bps"] = !ec && !plan.null_output && seconds > 0
                               ? nlohmann::json(8.0 * static_cast<double>(bytes) / seconds)
                               : nlohmann::json();
    std::ofstream out(options.stats_json);
    out << stats.dump(2) << "\n";
    if (!out) fail(ExitCode::kOutput, "cannot write stats to '" + options.stats_json + "'");
  }
  return code;
}

}  // namespace vpipe::supervisor
