#include "supervisor/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/av.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/exit_status.hpp"
#include "common/files.hpp"
#include "common/signals.hpp"
#include "encode/hls_master.hpp"
#include "plan/run_plan.hpp"
#include "report/metrics.hpp"
#include "report/metrics_server.hpp"
#include "report/progress.hpp"
#include "report/run_report.hpp"
#include "shm/end_of_stream.hpp"
#include "shm/run_segment.hpp"
#include "stage/stream_copy.hpp"
#include "supervisor/policy.hpp"
#include "supervisor/process.hpp"
#include "supervisor/progress_output.hpp"
#include "supervisor/service.hpp"
#include "supervisor/start.hpp"
#include "supervisor/stderr_relay.hpp"

namespace vpipe::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// After an abort, stages get this long to notice before they are killed.
constexpr std::chrono::seconds kAbortGrace{2};
// The transform pool's measuring window (--workers auto, MIN-MAX).
constexpr std::chrono::milliseconds kPoolWindow{500};
// Stop signals closer than this to the first are the same request (see on_signal).
constexpr std::chrono::milliseconds kSameStopRequest{50};

double seconds_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

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
  // For the metrics: CPU time of this stage's ended processes (from their exit's resource
  // usage), and of the running one and its resident memory, as last read.
  double cpu_s_ended = 0;
  double cpu_s_now = 0;
  long rss_kib = 0;
};

// A drained stop (a signal): finished and playable, but not all of the input. A script, a batch
// system or a Kubernetes Job must not take it for a complete run. Returns the exit code.
int say_stopped(const plan::RunPlan& plan, std::uint64_t frames) {
  if (frames == 0) {
    std::fprintf(stderr, "vpipe: stopped by a signal before the first frame (exit %d)\n",
                 static_cast<int>(ExitCode::kStopped));
  } else {
    std::fprintf(stderr, "vpipe: stopped by a signal: %s holds the first %llu frames (exit %d)\n",
                 plan.null_output ? "the run" : plan.encoder.output.c_str(),
                 static_cast<unsigned long long>(frames), static_cast<int>(ExitCode::kStopped));
  }
  return static_cast<int>(ExitCode::kStopped);
}

class Supervisor {
 public:
  // Everything it decides by is in the plan.
  Supervisor(const plan::RunPlan& plan, shm::RunSegment& segment, const sigset_t& original_mask,
             report::MetricsServer* metrics, std::vector<StartedStage> started,
             ProgressOutput& progress, StderrRelay* stage_stderr)
      : started_(std::move(started)),
        plan_(plan),
        segment_(segment),
        metrics_(metrics),
        original_mask_(original_mask),
        progress_(progress),
        stage_stderr_(stage_stderr) {}

  int run() {
    start_ = Clock::now();
    // Every stage already runs: decode opened the input to plan the run; encode and the workers
    // loaded meanwhile. All were told "go" once the segment was laid out.
    for (const StartedStage& s : started_) {
      adopt_child(s.id, s.pid);
    }
    // Under systemd (Type=notify): ready once the input is open and every stage runs.
    watchdog_ = service::watchdog_interval();
    service::notify("READY=1\nSTATUS=running: " + plan_.input + " -> " + plan_.encoder.output);
    supervise();
    // A last update, so a program reading --progress json sees the final counts.
    if (plan_.progress == "json" && progress_.due(/*force=*/true)) progress_.show(sample());
    progress_.finish_line();
    return report();
  }

  [[nodiscard]] nlohmann::json stats_json() const {
    nlohmann::json stats = report::stats_json(segment_, plan_, processes(), wall_s_, restarts_);
    // The transform pool's size over the run: where it started, then each change.
    nlohmann::json pool = nlohmann::json::array();
    for (const auto& [t, workers] : workers_over_time_)
      pool.push_back({{"t_s", t}, {"workers", workers}});
    stats["workers_over_time"] = pool;
    return stats;
  }

  // The run's last counters, for the metrics that outlive it.
  [[nodiscard]] report::ProgressSample final_sample() const { return sample(); }

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
      c.cpu_s_ended += seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
      c.cpu_s_now = 0;
      c.rss_kib = 0;
      const OnExit action = on_stage_exit(c.id, status, aborting_);
      if (action == OnExit::kNothing) continue;
      if (action == OnExit::kRestart && restart_worker(c)) continue;
      if (action == OnExit::kFinishForDecode) {
        drain_after_decode_death(c);
        continue;
      }
      if (action == OnExit::kFinishOtherOutputs) {
        finish_other_outputs(c);
        continue;
      }
      if (c.id.role == StageRole::kEncode && WIFSIGNALED(status)) {
        record_error("encode " + describe_status(status) + " while writing " +
                     plan_.encoder.output +
                     (plan_.more_outputs.empty() ? "; the output holds" : "; the outputs hold") +
                     " what was written before (fragmented MP4 and Matroska stay playable)");
      }
      spdlog::debug("{} {}", c.name, describe_status(status));
      begin_abort();
    }
  }

  // A transform worker that crashed (or was killed) is replaced on the same CPUs; what it held
  // is requeued first, so no frame is lost and the output is what a fault-free run gives.
  bool restart_worker(Child& c) {
    shm::StageStats& stats = segment_.control().stage(c.id);
    if (!may_restart(restarts_, plan_.max_restarts)) {
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
    progress_.finish_line();
    spdlog::warn("{} {}: restarted, {} frame(s) requeued{}", c.name, describe_status(c.status),
                 reclaimed.requeued,
                 reclaimed.end_of_stream_restored ? " (and its end-of-stream marker)" : "");
    c.pid = spawn(c.id, segment_.fd(), original_mask_, {-1, -1}, -1, stage_stderr_->child_end());
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
    stop_the_input();
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

  // A later output's encoder died (killed, or failed on its own with its reason recorded): encode
  // shares no more frames with it, what it held goes back, and the other outputs finish what is
  // in flight, playable, as after a stop signal; the run fails.
  void finish_other_outputs(const Child& c) {
    shm::ControlBlock& control = segment_.control();
    control.outputs_full.fetch_or(1u << c.id.worker);
    stop_the_input();
    segment_.release_output(c.id.worker);
    const std::string& output =
        plan_.more_outputs.at(static_cast<std::size_t>(c.id.worker) - 1).encoder.output;
    record_error(c.name + " " + describe_status(c.status) + " while writing " + output +
                 "; it holds what was written before, and the other outputs were finished there");
  }

  // A worker that shows no sign of life for --hang-timeout is killed; the restart then requeues
  // its frames like after a crash. A worker waiting for input beats at every poll, so silence
  // means stuck — whether it holds frames or an end-of-stream marker waits for it.
  // Decode and encode get the same watchdog, where silence must also come with no CPU time spent
  // (stopped with SIGSTOP, or blocked for good): killed, their death ends the run as a crash
  // would, with the reason first. Decode waiting on an input it was told to wait for
  // (--input-timeout 0) is left alone.
  void kill_hung_stages() {
    if (plan_.hang_timeout_s <= 0 || aborting_) return;
    const std::uint64_t now = monotonic_ns();
    const auto limit = static_cast<std::uint64_t>(plan_.hang_timeout_s * 1e9);
    for (auto& c : children_) {
      if (!c.running) continue;
      const std::uint64_t beat =
          std::max(c.started_ns, segment_.control().stage(c.id).heartbeat_ns.load());
      if (now < beat + limit) continue;
      if (c.id.role != StageRole::kWorker) {
        const std::uint64_t cpu = usage_of(c.pid).cpu_ticks;
        if (cpu != c.cpu_ticks || c.cpu_moved_ns == 0) {
          c.cpu_ticks = cpu;
          c.cpu_moved_ns = now;
        }
      }
      const Silence silence =
          judge_silence(c.id.role, now, beat, c.cpu_moved_ns, limit, plan_.input_timeout_s <= 0);
      if (silence == Silence::kAlive) continue;
      if (silence == Silence::kStuckStage) {
        record_error(
            fmt::format("{} made no progress for {:.1f} s (stopped, or stuck): killed "
                        "(--hang-timeout)",
                        c.name, static_cast<double>(now - beat) / 1e9));
      } else {
        progress_.finish_line();
        spdlog::warn("{} silent for {:.1f} s: killing it", c.name,
                     static_cast<double>(now - beat) / 1e9);
      }
      kill(c.pid, SIGKILL);
    }
  }

  // The run stops early: no more input is read, what is in flight is finished, and a -c copy
  // output ends its copy there too.
  void stop_the_input() {
    segment_.control().stop_input.store(1);
    segment_.control().stop_requested.store(1);
  }

  void record_error(const std::string& text) {
    shm::record_first_error(segment_.control(), static_cast<int>(ExitCode::kRunFailed), text);
  }

  void begin_abort() {
    aborting_ = true;
    abort_started_ = Clock::now();
    segment_.control().abort.store(1);
  }

  // --workers auto or MIN-MAX: at the end of each window, how busy the active workers were and
  // whether frames wait for them set the pool's size for the next (resize_workers). A worker
  // parked or unparked changes nothing in flight: it parks only between its batches.
  void size_the_pool() {
    if (plan_.min_workers >= plan_.nb_workers || aborting_) return;
    shm::ControlBlock& control = segment_.control();
    // The stream is ending: every worker takes its end-of-stream marker now.
    if (control.stop_input.load() != 0 || control.total_frames.load() >= 0) return;
    const auto now = Clock::now();
    if (now - pool_window_start_ < kPoolWindow) return;
    const double window_ns =
        std::chrono::duration<double, std::nano>(now - pool_window_start_).count();
    std::uint64_t busy_ns = 0;
    for (int i = 0; i < pool_.active; ++i) {
      busy_ns += control.stage(StageId::transform_worker(i)).busy_ns.load() -
                 busy_at_window_start_[static_cast<std::size_t>(i)];
    }
    const double busy = static_cast<double>(busy_ns) / (window_ns * pool_.active);
    const std::uint32_t waiting = segment_.decoded_ring().size();
    const PoolState next =
        resize_workers(pool_, plan_.min_workers, plan_.nb_workers, busy, waiting);
    if (next.active != pool_.active) {
      control.active_workers.store(static_cast<std::uint32_t>(next.active));
      workers_over_time_.emplace_back(std::chrono::duration<double>(now - start_).count(),
                                      next.active);
      spdlog::debug("transform pool: {} -> {} workers (busy {:.0f}%, {} frame(s) waiting)",
                    pool_.active, next.active, 100 * busy, waiting);
    }
    pool_ = next;
    start_pool_window(now);
  }

  void start_pool_window(Clock::time_point now) {
    pool_window_start_ = now;
    busy_at_window_start_.resize(static_cast<std::size_t>(plan_.nb_workers));
    for (int i = 0; i < plan_.nb_workers; ++i) {
      busy_at_window_start_[static_cast<std::size_t>(i)] =
          segment_.control().stage(StageId::transform_worker(i)).busy_ns.load();
    }
  }

  void kill_all() {
    for (const auto& c : children_) {
      if (c.running) kill(c.pid, SIGKILL);
    }
  }

  void supervise() {
    sigset_t wait_set = stop_signal_set();
    sigaddset(&wait_set, SIGCHLD);
    start_pool_window(Clock::now());
    while (any_running()) {
      const timespec tick{0, 200'000'000};
      const int sig = sigtimedwait(&wait_set, nullptr, &tick);
      if (sig > 0 && sig != SIGCHLD) on_signal(sig);
      reap();
      kill_hung_stages();
      end_a_stuck_drain();
      size_the_pool();
      if (aborting_ && Clock::now() - abort_started_ > kAbortGrace) kill_all();
      recent_.add(std::chrono::duration<double>(Clock::now() - start_).count(),
                  segment_.control().stage(StageId::encode()).frames_out.load());
      if (progress_.due()) progress_.show(sample());
      tell_systemd();
      if (metrics_ != nullptr) {
        read_usage();
        metrics_->publish(report::prometheus_text(sample()));
      }
    }
  }

  // Watchdog pings at half the service's WatchdogSec (the scheduler's own loop is alive; stages
  // have --hang-timeout), and the progress line as the service's status every 2 s.
  void tell_systemd() {
    if (!service::notifying()) return;
    const auto now = Clock::now();
    if (watchdog_.count() > 0 && now - last_watchdog_ >= watchdog_ / 2) {
      service::notify("WATCHDOG=1");
      last_watchdog_ = now;
    }
    if (now - last_status_ >= std::chrono::seconds(2)) {
      service::notify("STATUS=" + progress_line(sample()));
      last_status_ = now;
    }
  }

  // Each running stage's CPU time and memory, for the metrics.
  void read_usage() {
    static const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
    for (auto& c : children_) {
      if (!c.running) continue;
      const ProcessUsage usage = usage_of(c.pid);
      c.cpu_s_now = static_cast<double>(usage.cpu_ticks) / ticks_per_s;
      c.rss_kib = usage.rss_kib;
    }
  }

  // A drain that outlives --drain-timeout (a stage stopped with SIGSTOP, or wedged) would hold
  // `timeout`, `docker stop` and systemd until their SIGKILL: abort it, saying which stages were
  // still running.
  void end_a_stuck_drain() {
    if (signals_ == 0 || aborting_ || plan_.drain_timeout_s <= 0) return;
    if (Clock::now() - first_signal_ < std::chrono::duration<double>(plan_.drain_timeout_s)) return;
    std::string running;
    for (const auto& c : children_) {
      if (c.running) running += (running.empty() ? "" : ", ") + c.name;
    }
    record_error("the stop did not finish within " + fmt::format("{:g}", plan_.drain_timeout_s) +
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
      service::notify("STOPPING=1\nSTATUS=finishing the frames in flight");
      progress_.finish_line();
      spdlog::info(
          "{}: finishing: no more input is read, frames in flight are encoded (again to abort)",
          sigabbrev_np(sig));
      stop_the_input();
      return;
    }
    interrupted_ = true;
    begin_abort();
    kill_all();
  }

 private:
  int report() {
    const auto& control = segment_.control();
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    // What a library said past libav (x264's own error lines) belongs to the run's one error
    // line, or, if there is none, to the log.
    std::vector<std::string> library_errors =
        stage_stderr_ != nullptr ? stage_stderr_->finish() : std::vector<std::string>{};
    const auto error_line = [&](const std::string& text) {
      std::string line = "vpipe: error: " + text;
      for (const std::string& said : std::exchange(library_errors, {})) line += "; " + said;
      std::fprintf(stderr, "%s\n", line.c_str());
    };
    struct LogTheRest {
      std::vector<std::string>& lines;
      ~LogTheRest() {
        for (const std::string& line : lines) spdlog::warn("{}", line);
      }
    } log_the_rest{library_errors};
    if (interrupted_) {
      error_line("aborted by a second signal; the output is incomplete");
      return static_cast<int>(ExitCode::kInterrupted);
    }
    for (const auto& c : children_) {
      // It printed its line itself: the first error, before anything it caused.
      if (said_itself(c.status)) return static_cast<int>(ExitCode::kRunFailed);
    }
    if (control.error_claimed.load() != 0) {
      error_line(control.error_text);
      return control.error_code;
    }
    for (const auto& c : children_) {
      if (failed(c.status)) {
        error_line("stage " + c.name + " " + describe_status(c.status));
        return static_cast<int>(ExitCode::kRunFailed);
      }
    }
    const std::uint64_t frames = control.stage(StageId::encode()).frames_out.load();
    const std::uint64_t errors = control.stage(StageId::decode()).errors.load();
    const double fps = secs > 0 ? static_cast<double>(frames) / secs : 0;
    // Several outputs: each with the frames it took (its own -frames:v, its own graph's rate).
    std::string outputs = plan_.null_output ? "null" : plan_.encoder.output;
    const auto frames_of = [&](std::size_t i) {
      return " (" + std::to_string(control.output_frames[i].load()) + " frames)";
    };
    if (!plan_.more_outputs.empty()) outputs += frames_of(0);
    for (std::size_t i = 0; i < plan_.more_outputs.size(); ++i)
      outputs += ", " + plan_.more_outputs[i].encoder.output + frames_of(i + 1);
    spdlog::info("{} frames in {:.2f} s: {:.1f} fps, {:.2f}x real time, {} worker{}{}{} -> {}",
                 frames, secs, fps, fps / av_q2d(plan_.input_info.frame_rate), plan_.nb_workers,
                 plan_.nb_workers == 1 ? "" : "s",
                 restarts_ ? ", " + std::to_string(restarts_) + " worker restarts" : "",
                 errors ? ", " + std::to_string(errors) + " damaged input packets skipped" : "",
                 outputs);
    wall_s_ = secs;
    if (plan_.live) report_live();
    if (signals_ > 0) return say_stopped(plan_, frames);
    return 0;
  }

  [[nodiscard]] report::ProgressSample sample() const {
    report::ProgressSample p =
        report::sample_run(segment_, plan_, processes(),
                           std::chrono::duration<double>(Clock::now() - start_).count(), restarts_);
    p.fps_now = recent_.per_second();
    return p;
  }

  [[nodiscard]] std::vector<report::StageProcess> processes() const {
    std::vector<report::StageProcess> table;
    for (const auto& c : children_)
      table.push_back({c.id, c.pid, c.running, c.status, c.peak_rss_kib,
                       c.cpu_s_ended + c.cpu_s_now, c.rss_kib});
    return table;
  }

  // Live: latency percentiles and what each stage dropped, and why.
  void report_live() const {
    report::log_live_summary(sample(), segment_.control().stage(StageId::decode()).frames_in.load(),
                             plan_);
  }

  std::vector<StartedStage> started_;
  const plan::RunPlan& plan_;
  shm::RunSegment& segment_;
  report::MetricsServer* metrics_;
  const sigset_t& original_mask_;
  ProgressOutput& progress_;
  StderrRelay* stage_stderr_;
  std::vector<Child> children_;
  Clock::time_point start_;
  Clock::time_point abort_started_;
  bool aborting_ = false;
  bool interrupted_ = false;
  int signals_ = 0;
  Clock::time_point first_signal_;
  int restarts_ = 0;
  // The transform pool's size (--workers auto, MIN-MAX): the state of its sizing, the window
  // being measured, and each change (seconds into the run, workers).
  PoolState pool_{plan_.nb_workers};
  Clock::time_point pool_window_start_;
  std::vector<std::uint64_t> busy_at_window_start_;
  std::vector<std::pair<double, int>> workers_over_time_{{0.0, plan_.nb_workers}};
  double wall_s_ = 0;
  report::RecentRate recent_;
  std::chrono::microseconds watchdog_{0};
  Clock::time_point last_watchdog_;
  Clock::time_point last_status_;
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

// The ladder's master playlist, over the playlists the run wrote (a stopped run's too: they are
// playable). Returns the run's exit code, or the output error's if it cannot be written.
int write_master_playlist(const plan::RunPlan& plan, int code) {
  std::vector<encode::HlsVariant> variants;
  for (std::size_t i = 0; i < plan.nb_outputs(); ++i) {
    const plan::RunPlan& out = plan.output(i);
    const AVRational rate = out.output_frame_rate();
    variants.push_back({out.encoder.output, out.output_geometry().width,
                        out.output_geometry().height, rate.num > 0 ? av_q2d(rate) : 0});
  }
  try {
    encode::write_master_playlist(plan.master_playlist, variants);
  } catch (const Error& e) {
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return code;
}

// A report written at the end must be writable from the start: a run must not transcode for an
// hour and then fail on the report (a usage error, as --log-file's).
void check_writable(const std::string& flag, const std::string& path) {
  if (const std::string why = cannot_write(path); !why.empty())
    fail(ExitCode::kUsage, flag + " '" + path + "' cannot be written: " + why);
}

// "complete", "interrupted" (a drained stop: ends early, playable) or "failed".
const char* result_of(int code) {
  return code == 0                                      ? "complete"
         : code == static_cast<int>(ExitCode::kStopped) ? "interrupted"
                                                        : "failed";
}

// --metrics-linger: the endpoint stays up for a last scrape of the final values; a stop signal
// ends the wait early.
void linger_for_scrapes(double seconds, int port) {
  spdlog::info("metrics stay at port {} for {:g} s (--metrics-linger; Ctrl-C to leave now)", port,
               seconds);
  const sigset_t stop = stop_signal_set();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    const timespec wait{static_cast<time_t>(ns / 1'000'000'000),
                        static_cast<long>(ns % 1'000'000'000)};
    const int sig = sigtimedwait(&stop, nullptr, &wait);
    if (sig > 0) return;
    if (sig < 0 && errno != EINTR) return;
  }
}

// The metrics that outlive the run: the endpoint's last text, the textfile and the push. A
// textfile that cannot be written fails a run that would otherwise succeed (something expects
// it); a Pushgateway that cannot be reached is a warning (the output is whole).
int publish_final_metrics(const plan::RunOptions& options, const report::ProgressSample& last,
                          int code, report::MetricsServer* server) {
  const std::string text = report::prometheus_text(last);
  if (server != nullptr) server->publish(text);
  if (!options.metrics_push.empty()) {
    const std::string why =
        report::push_metrics(report::parse_push_url(options.metrics_push), text);
    if (!why.empty()) spdlog::warn("{}", why);
  }
  if (!options.metrics_textfile.empty()) {
    try {
      report::write_textfile(options.metrics_textfile, text);
    } catch (const Error& e) {
      std::fprintf(stderr, "vpipe: error: %s\n", e.what());
      if (code == 0) code = static_cast<int>(ExitCode::kOutput);
    }
  }
  if (server != nullptr && options.metrics_linger_s > 0)
    linger_for_scrapes(options.metrics_linger_s, server->port());
  return code;
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
  return text;
}

std::unique_ptr<report::MetricsServer> serve_metrics(const plan::RunOptions& options) {
  if (options.metrics.empty()) return nullptr;
  auto server = std::make_unique<report::MetricsServer>(options.metrics);
  spdlog::info("serving metrics on http://{}:{}/metrics",
               options.metrics.rfind(':') == std::string::npos
                   ? "127.0.0.1"
                   : options.metrics.substr(0, options.metrics.rfind(':')),
               server->port());
  return server;
}

// What every run does once its result is known: the stats JSON (`stats`, null without
// --stats-json, gets what only the end knows), the last progress record, the metrics that
// outlive the run. Returns the exit code.
int end_run(const plan::RunOptions& options, const plan::RunPlan& plan, int code,
            nlohmann::json stats, report::ProgressSample last, ProgressOutput& progress,
            report::MetricsServer* metrics, std::chrono::system_clock::time_point began_utc) {
  if (!options.stats_json.empty()) {
    // What the run came to, for whoever reads the report instead of the exit status.
    stats["result"] = result_of(code);
    stats["exit_code"] = code;
    stats["started"] = utc_text(began_utc);
    stats["ended"] = utc_text(std::chrono::system_clock::now());
    std::error_code ec;
    const auto bytes = plan.null_output ? 0 : std::filesystem::file_size(plan.encoder.output, ec);
    stats["output_bytes"] = ec ? nlohmann::json() : nlohmann::json(bytes);
    const AVRational rate = plan.output_frame_rate();
    const double seconds = rate.num > 0 ? stats.value("frames", 0.0) / av_q2d(rate) : 0.0;
    stats["output_duration_s"] = seconds;
    stats["bitrate_bps"] = !ec && !plan.null_output && seconds > 0
                               ? nlohmann::json(8.0 * static_cast<double>(bytes) / seconds)
                               : nlohmann::json();
    std::ofstream out(options.stats_json);
    out << stats.dump(2) << "\n";
    if (!out) fail(ExitCode::kOutput, "cannot write stats to '" + options.stats_json + "'");
  }
  last.result = result_of(code);
  last.exit_code = code;
  progress.end(last);
  return publish_final_metrics(options, last, code, metrics);
}

// -c copy: the packets are remuxed here, with no stage process, and the run reports as any
// other: progress, a stop signal (the file ends there, playable), the stats JSON, the metrics.
int run_copy(const plan::RunOptions& options, const plan::RunPlan& plan,
             std::filesystem::file_time_type began,
             std::chrono::system_clock::time_point began_utc) {
  ProgressOutput progress(options.progress, options.quiet, options.progress_file);
  const std::unique_ptr<report::MetricsServer> metrics = serve_metrics(options);
  const auto start = Clock::now();
  const auto sample = [&](std::uint64_t frames) {
    return report::sample_output(plan, frames,
                                 std::chrono::duration<double>(Clock::now() - start).count());
  };
  report::RecentRate recent;
  const sigset_t stop = stop_signal_set();
  auto next_look = start;
  std::uint64_t written = 0;  // known even when the copy fails
  const auto keep_going = [&](std::uint64_t frames) {
    written = frames;
    const auto now = Clock::now();
    if (now < next_look) return true;
    next_look = now + std::chrono::milliseconds(100);
    const timespec now_only{0, 0};
    if (const int sig = sigtimedwait(&stop, nullptr, &now_only); sig > 0) {
      progress.finish_line();
      spdlog::info("{}: finishing: the copy ends here", sigabbrev_np(sig));
      return false;
    }
    recent.add(std::chrono::duration<double>(now - start).count(), frames);
    const bool show = progress.due();
    if (show || metrics != nullptr) {
      report::ProgressSample p = sample(frames);
      p.fps_now = recent.per_second();
      if (show) progress.show(p);
      if (metrics != nullptr) metrics->publish(report::prometheus_text(p));
    }
    return true;
  };
  stage::CopyResult copied;
  int code = 0;
  try {
    copied = stage::run_stream_copy(plan, keep_going);
  } catch (const Error& e) {
    progress.finish_line();
    if (*e.what() != '\0') std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    code = static_cast<int>(e.code());
    // What was written before the failure (a full disk) is kept: it plays.
    copied.frames = written;
    remove_empty_output(plan, copied.frames, began);
  }
  // A signal that ended a wait for the input is still pending: taken here, it is the request
  // it was, not a default action once the mask is restored.
  const timespec now_only{0, 0};
  while (sigtimedwait(&stop, nullptr, &now_only) > 0) {
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  report::ProgressSample last = sample(copied.frames);
  // "Now" is the whole copy when it took less than the rate's span.
  last.fps_now = recent.per_second() > 0 ? recent.per_second() : last.fps();
  if (options.progress == "json" && progress.due(/*force=*/true)) progress.show(last);
  progress.finish_line();
  if (code == 0 && copied.stopped) code = say_stopped(plan, copied.frames);
  return end_run(options, plan, code,
                 options.stats_json.empty() ? nlohmann::json()
                                            : report::copy_stats_json(plan, copied.frames, wall_s),
                 last, progress, metrics.get(), began_utc);
}

}  // namespace

int run(const plan::RunOptions& given) {
  const plan::RunOptions options = plan::encoded_output_first(given);
  const auto run_began = std::filesystem::file_time_type::clock::now();
  const auto run_began_utc = std::chrono::system_clock::now();
  // From here a stop signal is a request the supervisor answers (it waits, blocked, until then):
  // one that comes while the topology is read or the input probed must not kill the run by its
  // default action.
  const SignalBlock signals;
  if (!options.stats_json.empty()) check_writable("--stats-json", options.stats_json);
  if (!options.metrics_textfile.empty())
    check_writable("--metrics-textfile", options.metrics_textfile);
  if (!options.metrics_push.empty()) (void)report::parse_push_url(options.metrics_push);
  av::route_logs_to_spdlog(/*quiet=*/true);
  const affinity::Topology topology = affinity::read_topology();
  if (options.dry_run) {
    const plan::RunPlan plan = plan::make_plan(options, topology);
    std::fputs(plan::describe(plan).c_str(), stdout);
    return 0;
  }
  if (options.codec == "copy")
    return run_copy(options, plan::make_plan(options, topology), run_began, run_began_utc);
  ProgressOutput progress(options.progress, options.quiet, options.progress_file);
  const plan::RunPlan stages = plan::plan_stages(options, topology);
  int segment_fd = shm::RunSegment::create_fd();
  struct FdCloser {
    int& fd;
    ~FdCloser() {
      if (fd >= 0) close(fd);
    }
  } close_unless_used{segment_fd};
  // Every stage writes to stderr through the supervisor (supervisor/stderr_relay.hpp), in colour
  // if it is a terminal.
  if (isatty(STDERR_FILENO) != 0) setenv("VPIPE_LOG_COLOR", "always", /*overwrite=*/0);
  StderrRelay stage_stderr;
  DecodeLauncher decode(stages, segment_fd, signals.original(), stage_stderr.child_end());
  Prestarted others(stages, segment_fd, signals.original(), stage_stderr.child_end());
  stage_stderr.start();
  const plan::RunPlan plan = plan::make_plan(options, stages, decode.wait_for_input());
  spdlog::debug("plan:\n{}", plan::describe(plan));
  if (plan.cpus.shared) spdlog::debug("{}", plan.cpus.note);

  shm::RunSegment segment =
      shm::RunSegment::create(plan.segment_spec(), std::exchange(segment_fd, -1));
  // A -c copy output takes no decoded frame: it never holds the input open for -frames:v.
  for (std::size_t i = 0; i < plan.more_outputs.size(); ++i) {
    if (plan.more_outputs[i].stream_copy())
      segment.control().outputs_full.fetch_or(1u << (i + 1));  // output i + 1
  }
  const std::unique_ptr<report::MetricsServer> metrics = serve_metrics(options);
  std::vector<StartedStage> started = others.go();
  started.insert(started.begin(), StartedStage{StageId::decode(), decode.go()});
  // Each later output's encoder that runs in a process of its own: which ones depends on the
  // input (a stream's audio keeps an output in encode), so they start once it is open.
  for (std::size_t i = 0; i < plan.more_outputs.size(); ++i) {
    if (!plan.more_outputs[i].own_process) continue;
    const StageId id = StageId::output_encoder(static_cast<int>(i) + 1);
    started.push_back(
        {id, spawn(id, segment.fd(), signals.original(), {-1, -1}, -1, stage_stderr.child_end())});
  }
  Supervisor supervisor(plan, segment, signals.original(), metrics.get(), std::move(started),
                        progress, &stage_stderr);
  int code = supervisor.run();
  if (!plan.master_playlist.empty() &&
      (code == 0 || code == static_cast<int>(ExitCode::kStopped))) {
    code = write_master_playlist(plan, code);
  }
  if (code != 0) {
    remove_empty_output(plan, segment.control().output_frames[0].load(), run_began);
    for (std::size_t i = 0; i < plan.more_outputs.size(); ++i)
      remove_empty_output(plan.more_outputs[i], segment.control().output_frames[i + 1].load(),
                          run_began);
  }
  report::ProgressSample last = supervisor.final_sample();
  return end_run(options, plan, code,
                 options.stats_json.empty() ? nlohmann::json() : supervisor.stats_json(), last,
                 progress, metrics.get(), run_began_utc);
}

}  // namespace vpipe::supervisor
