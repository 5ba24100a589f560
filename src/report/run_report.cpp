#include "report/run_report.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <opencv2/core/version.hpp>
#include <optional>

extern "C" {
#include <libavcodec/version.h>
#include <libavformat/version.h>
}

#include "common/exit_status.hpp"
#include "shm/credits.hpp"

namespace vpipe::report {
namespace {

// "running", "exited with code 0", "killed by signal KILL": how a stage's process ended.
std::string exit_text(const std::vector<StageProcess>& processes, const std::string& stage) {
  for (const auto& c : processes) {
    if (c.id.name() == stage) return c.running ? "running" : describe_status(c.status);
  }
  return "unknown";
}

}  // namespace

ProgressSample sample_output(const plan::RunPlan& plan, std::uint64_t frames, double elapsed_s) {
  ProgressSample p;
  p.elapsed_s = elapsed_s;
  p.frames_done = frames;
  p.frames_total = plan.expected_frames();
  p.input_fps = av_q2d(plan.input_info.frame_rate);
  const AVRational out_rate = plan.output_frame_rate();
  p.output_fps = out_rate.num > 0 && out_rate.den > 0 ? av_q2d(out_rate) : p.input_fps;
  p.input = plan.input;
  p.output = plan.encoder.output;
  p.mode = plan.live ? "live" : "batch";
  if (!plan.null_output) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(plan.encoder.output, ec);
    if (!ec) p.output_bytes = static_cast<std::int64_t>(bytes);
  }
  return p;
}

ProgressSample sample_run(shm::RunSegment& segment, const plan::RunPlan& plan,
                          const std::vector<StageProcess>& processes, double elapsed_s,
                          int restarts) {
  shm::ControlBlock& control = segment.control();
  ProgressSample p =
      sample_output(plan, control.stage(StageId::encode()).frames_out.load(), elapsed_s);
  p.window = plan.window;
  p.in_flight = plan.window - static_cast<std::uint32_t>(std::clamp(shm::credits_free(control), 0,
                                                                    static_cast<int>(plan.window)));
  shm::FrameRing decoded = segment.decoded_ring();
  shm::FrameRing filtered = segment.filtered_ring();
  p.decoded_queue = decoded.size();
  p.filtered_queue = filtered.size();
  p.decoded_high_water = decoded.high_water();
  p.filtered_high_water = filtered.high_water();
  p.restarts = static_cast<std::uint64_t>(restarts);
  p.workers_active = control.active_workers.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < plan.nb_outputs(); ++i) {
    const plan::RunPlan& out = plan.output(i);
    ProgressSample::Output o{
        out.null_output ? "null" : out.encoder.output,
        control.output_frames[i].load(std::memory_order_relaxed),
        p.output_bytes,  // the first output's, already read
        control.output_drops[i].load(std::memory_order_relaxed),
        static_cast<double>(control.output_busy_ns[i].load(std::memory_order_relaxed)) / 1e9};
    if (i > 0) {
      std::error_code ec;
      const auto bytes = std::filesystem::file_size(out.encoder.output, ec);
      o.bytes = ec ? -1 : static_cast<std::int64_t>(bytes);
    }
    p.outputs.push_back(std::move(o));
  }
  for (const auto& b : control.latency_buckets)
    p.latency_buckets.push_back(b.load(std::memory_order_relaxed));
  p.latency_max_us = static_cast<double>(control.latency_max_us.load());
  p.latency_sum_s = static_cast<double>(control.latency_sum_us.load()) / 1e6;
  for (const StageRole role : {StageRole::kDecode, StageRole::kWorker, StageRole::kEncode}) {
    const shm::StageFrameTimes& times = control.frame_times[static_cast<int>(role)];
    StageFrameTimes t;
    t.stage = role == StageRole::kWorker ? "transform" : std::string(role_name(role));
    for (const auto& b : times.buckets) t.buckets.push_back(b.load(std::memory_order_relaxed));
    t.sum_s = static_cast<double>(times.sum_us.load(std::memory_order_relaxed)) / 1e6;
    p.frame_times.push_back(std::move(t));
  }
  // Pipeline order (decode, workers, encode), whatever the start order was.
  std::vector<const StageProcess*> ordered;
  for (const auto& c : processes) ordered.push_back(&c);
  std::stable_sort(
      ordered.begin(), ordered.end(),
      [](const StageProcess* a, const StageProcess* b) { return a->id.role < b->id.role; });
  for (const StageProcess* process : ordered) {
    const StageProcess& c = *process;
    const auto& st = control.stage(c.id);
    StageSample s;
    s.name = c.id.name();
    s.pid = c.pid;
    s.cpus = plan.cpus_of(s.name);
    s.frames_in = st.frames_in.load();
    s.frames_out = st.frames_out.load();
    s.busy_s = static_cast<double>(st.busy_ns.load()) / 1e9;
    s.wait_s = static_cast<double>(st.wait_ns.load()) / 1e9;
    s.frames_copied = st.frames_copied.load();
    s.errors = st.errors.load();
    s.restarts = st.restarts.load();
    s.drops_late = st.drops_late.load();
    s.drops_full = st.drops_full.load();
    p.drops += s.drops_late + s.drops_full;
    s.peak_rss_kib = c.peak_rss_kib;
    s.cpu_s = c.cpu_s;
    s.rss_kib = c.rss_kib;
    p.stages.push_back(s);
  }
  return p;
}

namespace {
nlohmann::json versions() {
  return {{"vpipe", VPIPE_VERSION},
          {"libavformat", LIBAVFORMAT_IDENT},
          {"libavcodec", LIBAVCODEC_IDENT},
          {"opencv", CV_VERSION}};
}
}  // namespace

nlohmann::json copy_stats_json(const plan::RunPlan& plan, std::uint64_t frames, double wall_s) {
  return {{"versions", versions()},
          {"stream_copy", true},
          {"frames", frames},
          {"wall_s", wall_s},
          {"fps", wall_s > 0 ? static_cast<double>(frames) / wall_s : 0},
          {"live", plan.live},
          {"plan", nlohmann::json::parse(plan::to_json(plan))}};
}

nlohmann::json stats_json(shm::RunSegment& segment, const plan::RunPlan& plan,
                          const std::vector<StageProcess>& processes, double wall_s, int restarts) {
  const ProgressSample p = sample_run(segment, plan, processes, wall_s, restarts);
  nlohmann::json stages = nlohmann::json::array();
  for (std::size_t i = 0; i < p.stages.size(); ++i) {
    const auto& s = p.stages[i];
    stages.push_back({{"stage", s.name},
                      {"pid", s.pid},
                      {"cpus", s.cpus},
                      {"exit", exit_text(processes, s.name)},
                      {"frames_in", s.frames_in},
                      {"frames_out", s.frames_out},
                      {"drops", {{"late", s.drops_late}, {"ring_full", s.drops_full}}},
                      {"busy_s", s.busy_s},
                      {"wait_s", s.wait_s},
                      {"busy_percent", wall_s > 0 ? 100 * s.busy_s / wall_s : 0},
                      {"frames_copied", s.frames_copied},
                      {"errors", s.errors},
                      {"restarts", s.restarts},
                      {"peak_rss_kib", s.peak_rss_kib}});
  }
  const auto pct = [&](double q) { return p.latency_ms(q); };
  nlohmann::json frame_ms = nlohmann::json::object();
  for (const StageFrameTimes& t : p.frame_times) {
    const auto ms = [&](double q) {
      return shm::LatencyHistogram::percentile_us(t.buckets, q) / 1e3;
    };
    frame_ms[t.stage] = {{"p50", ms(0.5)}, {"p99", ms(0.99)}};
  }
  // Every output, -o's first first: the frames its encoder took, the bytes of its file, the
  // frames it dropped on its own (live) and the encode stage's time on it.
  nlohmann::json outputs = nlohmann::json::array();
  for (const ProgressSample::Output& o : p.outputs) {
    outputs.push_back({{"output", o.name},
                       {"frames", o.frames},
                       {"bytes", o.bytes >= 0 ? nlohmann::json(o.bytes) : nlohmann::json()},
                       {"drops", o.drops},
                       {"busy_s", o.busy_s}});
  }
  const std::optional<shm::PacketRing> audio = segment.audio_ring();
  std::uint64_t late = 0, full = 0;
  for (const auto& s : p.stages) {
    late += s.drops_late;
    full += s.drops_full;
  }
  return {
      {"versions", versions()},
      {"frames", p.frames_done},
      {"wall_s", wall_s},
      {"fps", wall_s > 0 ? static_cast<double>(p.frames_done) / wall_s : 0},
      {"live", plan.live},
      {"latency_budget_ms", plan.live ? nlohmann::json(plan.latency_budget_ms) : nlohmann::json()},
      {"frames_decoded", segment.control().stage(StageId::decode()).frames_in.load()},
      {"drops", {{"total", late + full}, {"late", late}, {"ring_full", full}}},
      {"decode_errors", segment.control().stage(StageId::decode()).errors.load()},
      // A live input's audio travels beside the frames and is dropped, never waited for,
      // when encode falls behind: null when decode does not carry the audio.
      {"audio_packets_dropped", audio ? nlohmann::json(audio->dropped()) : nlohmann::json()},
      {"restarts", restarts},
      {"latency_ms",
       {{"p50", pct(0.5)}, {"p95", pct(0.95)}, {"p99", pct(0.99)}, {"max", pct(1.0)}}},
      // The time each stage worked on a frame (see vpipe_stage_frame_seconds).
      {"stage_frame_ms", frame_ms},
      {"rings",
       {{"decoded", {{"high_water", p.decoded_high_water}}},
        {"filtered", {{"high_water", p.filtered_high_water}}}}},
      {"stages", stages},
      {"outputs", outputs},
      {"plan", nlohmann::json::parse(plan::to_json(plan))}};
}

void log_live_summary(const ProgressSample& p, std::uint64_t decoded, const plan::RunPlan& plan) {
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
  // Several outputs: what each dropped on its own, being late where the others were not.
  std::string own;
  for (const ProgressSample::Output& o : p.outputs) {
    if (o.drops > 0) own += (own.empty() ? "" : ", ") + o.name + " " + std::to_string(o.drops);
  }
  spdlog::info(
      "live: latency capture->packet p50 {:.0f} ms, p95 {:.0f}, p99 {:.0f}, max {:.0f} (budget "
      "{:.0f} ms); {} of {} frames dropped{}{}{}",
      ms(0.5), ms(0.95), ms(0.99), ms(1.0), plan.latency_budget_ms, p.drops, decoded,
      drops.empty() ? "" : ": ", drops,
      own.empty() ? "" : "; dropped by one output alone, late for it: " + own);
  if (decoded > 0 && p.frames_done == 0) {
    spdlog::warn(
        "every frame was dropped: the pipeline cannot finish a frame within the {} ms "
        "budget (raise --latency-budget, add --workers, or lighten the chain)",
        plan.latency_budget_ms);
  }
}

}  // namespace vpipe::report
