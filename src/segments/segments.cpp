#include "segments/segments.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "affinity/cpu_plan.hpp"
#include "common/av.hpp"
#include "common/error.hpp"
#include "common/exit_status.hpp"
#include "encode/audio_copy.hpp"
#include "encode/encoder.hpp"
#include "plan/run_flags.hpp"
#include "plan/run_plan.hpp"
#include "supervisor/supervisor.hpp"
#include "transform/filter_chain.hpp"

namespace vpipe::segments {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kPrerollFrames = 60;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `text` to `path` through a temporary name and a rename: readers see all or nothing.
void publish_text(const std::string& path, const std::string& text) {
  const std::string part = path + ".part";
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) fail(ExitCode::kOutput, "cannot write '" + part + "'");
  }
  if (std::rename(part.c_str(), path.c_str()) != 0)
    fail(ExitCode::kOutput, "cannot rename '" + part + "' to '" + path + "'");
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

InputIdentity identify(const std::string& path) {
  InputIdentity id;
  std::error_code ec;
  id.path = fs::absolute(path, ec).lexically_normal().string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(ExitCode::kInput, "input '" + path + "' cannot be read");
  id.size = st.st_size;
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  constexpr std::int64_t kMiB = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(std::min(id.size, kMiB)), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (id.size > kMiB) {
    std::string tail(static_cast<std::size_t>(std::min(id.size - kMiB, kMiB)), '\0');
    in.seekg(id.size - static_cast<std::int64_t>(tail.size()));
    in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
    bytes += tail;
  }
  id.head_tail_sha256 = sha256_hex(bytes);
  return id;
}

std::string segment_name(int index) {
  char name[16];
  std::snprintf(name, sizeof name, "%05d", index);
  return name;
}
std::string media_path(const std::string& dir, int index) {
  return dir + "/segments/" + segment_name(index) + ".nut";
}
std::string sidecar_path(const std::string& dir, int index) {
  return dir + "/segments/" + segment_name(index) + ".json";
}
bool is_part_of(const std::string& file, int index) {
  return file.rfind(segment_name(index) + ".", 0) == 0 && file.find(".part") != std::string::npos;
}

// A part file ("00003.nut.HOST-PID.part") whose writer is gone: on this host, the process is.
bool stale_part(const std::string& file) {
  const std::string stem = file.substr(0, file.size() - 5);  // without ".part"
  const auto dash = stem.rfind('-');
  const auto dot = stem.find(".nut.");
  if (dash == std::string::npos || dot == std::string::npos || dash < dot + 5) return false;
  const std::string host = stem.substr(dot + 5, dash - dot - 5);
  if (host != host_name()) return false;  // another machine's: cannot tell
  const pid_t pid = static_cast<pid_t>(std::atol(stem.c_str() + dash + 1));
  return pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH);
}

// Every video frame's pts (presentation order) and the keyframes, from the packets alone: every
// video packet must have a pts (MP4, Matroska, MPEG-TS/PS, WebM, ...).
FrameIndex read_index(const plan::RunPlan& plan) {
  const std::string& url = plan.input_info.url;
  const int stream_index = plan.input_info.stream_index;
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, url.c_str(), nullptr, nullptr) < 0)
    fail(ExitCode::kInput, "input '" + url + "' cannot be opened");
  const av::InputContextPtr input(raw);
  if (avformat_find_stream_info(raw, nullptr) < 0 || stream_index < 0 ||
      stream_index >= static_cast<int>(raw->nb_streams))
    fail(ExitCode::kInput, "input '" + url + "': no video stream to split");
  FrameIndex index;
  index.time_base = raw->streams[stream_index]->time_base;
  const av::PacketPtr packet(av_packet_alloc());
  bool every_pts = true;
  while (av_read_frame(raw, packet.get()) >= 0) {
    if (packet->stream_index == stream_index) {
      every_pts = every_pts && packet->pts != AV_NOPTS_VALUE;
      const std::int64_t pts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (pts != AV_NOPTS_VALUE) {
        index.pts.push_back(pts);
        if ((packet->flags & AV_PKT_FLAG_KEY) != 0) index.keyframes.push_back(pts);
      }
    }
    av_packet_unref(packet.get());
  }
  if (!every_pts) {
    // The decoder's own timestamp guesses (AVI's packed B-frames) do not match the packets'
    // exactly, so a segment's range could not be found again: refused, not guessed.
    fail(ExitCode::kUsage,
         "segment mode: input '" + url +
             "' has video packets without timestamps (AVI, raw streams), so segments cannot be "
             "cut exactly: run it as one pipeline (without --segments)");
  }
  // Frames that share a timestamp (damaged or odd inputs) are kept, each counts.
  std::sort(index.pts.begin(), index.pts.end());
  std::sort(index.keyframes.begin(), index.keyframes.end());
  return index;
}

// What one published segment file holds, read back.
struct SegmentFile {
  std::int64_t packets = 0;
  std::int64_t first_pts = 0, last_pts = 0;  // in the file's time base
  AVRational time_base{1, 1};
  std::string extradata_sha256;
};

SegmentFile read_segment(const std::string& path, std::vector<std::int64_t>* pts = nullptr) {
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0 ||
      avformat_find_stream_info(raw, nullptr) < 0 || raw->nb_streams != 1) {
    if (raw != nullptr) avformat_close_input(&raw);
    fail(ExitCode::kRunFailed, "segment file '" + path + "' cannot be read");
  }
  const av::InputContextPtr input(raw);
  SegmentFile f;
  const AVCodecParameters* par = raw->streams[0]->codecpar;
  f.time_base = raw->streams[0]->time_base;
  f.extradata_sha256 = sha256_hex(std::string(reinterpret_cast<const char*>(par->extradata),
                                              static_cast<std::size_t>(par->extradata_size)));
  const av::PacketPtr packet(av_packet_alloc());
  std::int64_t lo = INT64_MAX, hi = INT64_MIN;
  while (av_read_frame(raw, packet.get()) >= 0) {
    ++f.packets;
    lo = std::min(lo, packet->pts);
    hi = std::max(hi, packet->pts);
    if (pts != nullptr) pts->push_back(packet->pts);
    av_packet_unref(packet.get());
  }
  f.first_pts = f.packets > 0 ? lo : 0;
  f.last_pts = f.packets > 0 ? hi : 0;
  return f;
}

// The options the manifest stores, with its input and output (absolute paths): what one run over
// the whole job would use. A segment job changes them further; the join uses them as they are.
plan::RunOptions job_options(const Manifest& m) {
  plan::RunOptions options = plan::parse_run_args(m.run_args);
  options.input = m.input.path;
  options.output = m.output;
  return options;
}

void check_segmentable(const plan::RunOptions& options, const plan::RunPlan& plan) {
  const auto refuse = [](const std::string& why) {
    fail(ExitCode::kUsage, "segment mode: " + why);
  };
  if (plan.live || options.realtime)
    refuse("a live input or --realtime cannot be split (segments need a file to seek in)");
  if (!plan.input_info.seekable || options.input == "-")
    refuse("input '" + options.input +
           "' cannot be seeked (stdin, a stream, a camera, a test source): segments need a file");
  if (plan.null_output || plan.preview || !options.tee.empty())
    refuse("the output must be a file (not null or preview)");
  if (options.rate)
    refuse("-r is not supported yet (frames would be dropped or repeated per segment)");
  if (!plan.more_outputs.empty())
    refuse("several outputs are not supported yet: give one -o, or run once per output");
  if (!plan.vf_graph.empty()) {
    refuse("filter " + transform::FilterChain::parse(plan.vf_graph).why_sequential() +
           ", across the whole input: run it as one pipeline (without --segments)");
  }
}

}  // namespace

const char* state_name(State state) {
  switch (state) {
    case State::kDone:
      return "done";
    case State::kMissing:
      return "missing";
    case State::kRunning:
      return "running";
    case State::kInvalid:
      return "invalid";
  }
  return "?";
}

int auto_jobs(int cores, int segments, std::uint64_t job_bytes) {
  int jobs = std::min(cores / 4, segments);
  if (job_bytes > 0) {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    std::uint64_t kib = 0;
    while (meminfo >> key >> kib) {
      if (key == "MemAvailable:") {
        jobs = std::min<int>(jobs, static_cast<int>(kib * 1024 / job_bytes));
        break;
      }
      meminfo.ignore(256, '\n');
    }
  }
  return std::max(1, jobs);
}

Manifest plan_job(const plan::RunOptions& options, const std::vector<std::string>& run_args,
                  const SplitRequest& split, const std::string& workdir, bool quiet) {
  if (workdir.empty()) fail(ExitCode::kUsage, "segments: --workdir is required");
  const std::string manifest_path = workdir + "/manifest.json";
  if (fs::exists(manifest_path))
    fail(ExitCode::kUsage, "'" + workdir +
                               "' already holds a plan (manifest.json is written once): use "
                               "another --workdir, or remove it to plan again");
  av::route_logs_to_spdlog(/*quiet=*/true);
  const affinity::Topology topology = affinity::read_topology();
  const plan::RunPlan plan = plan::make_plan(options, topology);
  check_segmentable(options, plan);
  const auto& in = plan.input_info;
  const FrameIndex index = read_index(plan);
  const AVRational tb = index.time_base;
  const auto ticks = [&](double s) {
    return static_cast<std::int64_t>(std::llround(s / av_q2d(tb)));
  };
  const double begin_s = in.start_time_s + plan.start_s;
  const std::int64_t job_begin = plan.start_s > 0 ? ticks(begin_s) : INT64_MIN;
  const std::int64_t job_end = plan.duration_s > 0 ? ticks(begin_s + plan.duration_s) : kToTheEnd;

  Manifest m;
  m.vpipe_version = VPIPE_VERSION;
  m.created = utc_now();
  m.input = identify(options.input);
  std::error_code ec;
  m.output = fs::absolute(options.output, ec).lexically_normal().string();
  m.run_args = run_args;
  m.options_hash = options_hash(run_args);
  m.video_stream = in.stream_index;
  m.time_base = tb;
  m.frame_rate = in.frame_rate;
  m.origin_pts = ticks(plan.origin_s());
  m.split = split.split;
  SplitRequest request = split;
  if (request.split == Split::kGop && request.gop == 0 && options.gop) request.gop = *options.gop;
  // A filter that keeps state across frames (tdenoise) gets the frames before each segment as
  // context: its recursive average forgets a frame's weight to under 1e-7 in 60 frames.
  if (transform::FilterChain::parse(options.vf).sequential())
    request.preroll_frames = kPrerollFrames;
  m.segments = split_frames(index, job_begin, job_end, request);
  for (const Segment& s : m.segments) m.frames += s.frames;
  const int cores = static_cast<int>(topology.cores.size());
  // The frame pool a job's pipeline maps (its own plan is on fewer cores, so this overstates a
  // little), and its decoder and encoder.
  m.job_bytes = plan.segment_bytes + (256ULL << 20);
  const int jobs = auto_jobs(cores, static_cast<int>(m.segments.size()), m.job_bytes);
  m.cpus_per_job = std::max(1, cores / jobs);

  fs::create_directories(workdir + "/segments", ec);
  if (ec) fail(ExitCode::kOutput, "cannot create '" + workdir + "/segments': " + ec.message());
  publish_text(manifest_path, to_json(m));
  if (!quiet) {
    std::printf("planned %zu segments of %s (%lld frames, split at %s) in %s\n", m.segments.size(),
                options.input.c_str(), static_cast<long long>(m.frames), split_name(m.split),
                manifest_path.c_str());
    for (const Segment& s : m.segments) {
      const double from = static_cast<double>(s.begin_pts - m.origin_pts) * av_q2d(tb);
      std::printf("  %5d  frames %6lld-%-6lld  from %8.3f s  (%lld frames", s.index,
                  static_cast<long long>(s.first_frame),
                  static_cast<long long>(s.first_frame + s.frames - 1), from,
                  static_cast<long long>(s.frames));
      if (s.preroll_frames > 0)
        std::printf(", %lld of pre-roll for %s", static_cast<long long>(s.preroll_frames),
                    options.vf.c_str());
      std::printf(")\n");
    }
    std::printf(
        "local engine: %d jobs of %d CPUs on this machine's %d cores (a job per 4 cores, "
        "as memory allows at %llu MiB a job)\n",
        jobs, m.cpus_per_job, cores, static_cast<unsigned long long>(m.job_bytes >> 20));
    std::fflush(stdout);
  }
  return m;
}

Manifest load_checked(const std::string& workdir) {
  const std::string path = workdir + "/manifest.json";
  if (!fs::exists(path))
    fail(ExitCode::kUsage, "'" + workdir + "' holds no plan (run `vpipe segments plan` first)");
  Manifest m = manifest_from_json(read_text(path));
  if (options_hash(m.run_args) != m.options_hash)
    fail(ExitCode::kUsage, "the manifest's options changed since it was planned (hash " +
                               m.options_hash + "): plan again in a new --workdir");
  if (identify(m.input.path) != m.input)
    fail(ExitCode::kUsage, "input '" + m.input.path +
                               "' changed since it was planned (size, time or content): plan "
                               "again in a new --workdir");
  return m;
}

std::vector<SegmentState> segment_states(const std::string& workdir, const Manifest& m) {
  std::vector<SegmentState> states(m.segments.size());
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(workdir + "/segments", ec))
    files.push_back(e.path().filename().string());
  for (const Segment& s : m.segments) {
    SegmentState& st = states[static_cast<std::size_t>(s.index)];
    const std::string media = media_path(workdir, s.index), side = sidecar_path(workdir, s.index);
    if (fs::exists(media) && fs::exists(side)) {
      try {
        const json j = json::parse(read_text(side));
        if (j.at("options_hash") != m.options_hash)
          st = {State::kInvalid, "made with other options"};
        else if (j.at("frames").get<std::int64_t>() != s.frames)
          st = {State::kInvalid,
                "has " + j.at("frames").dump() + " frames, the plan " + std::to_string(s.frames)};
        else if (j.at("bytes").get<std::uint64_t>() != fs::file_size(media))
          st = {State::kInvalid, "its file's size is not the one recorded"};
        else
          st = {State::kDone, ""};
      } catch (const std::exception&) {
        st = {State::kInvalid, "its sidecar cannot be read"};
      }
      continue;
    }
    const bool part = std::any_of(files.begin(), files.end(), [&](const std::string& f) {
      return is_part_of(f, s.index) && !stale_part(f);
    });
    st = {part ? State::kRunning : State::kMissing, ""};
  }
  return states;
}

namespace {

// The segment `text` names ("env": the array task's index from Slurm or Kubernetes).
int segment_index(std::string text, const Manifest& m) {
  if (text == "env") {
    const char* slurm = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* k8s = std::getenv("JOB_COMPLETION_INDEX");
    text = slurm != nullptr ? slurm : k8s != nullptr ? k8s : "";
    if (text.empty())
      fail(ExitCode::kUsage,
           "--index env: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set");
  }
  int k = -1;
  try {
    std::size_t used = 0;
    k = std::stoi(text, &used);
    if (used != text.size()) k = -1;
  } catch (const std::exception&) {
  }
  if (k < 0 || k >= static_cast<int>(m.segments.size()))
    fail(ExitCode::kUsage, "--index '" + text + "': the plan has segments 0-" +
                               std::to_string(m.segments.size() - 1));
  return k;
}

// The options of one segment's run: the job's, into the NUT file `part`, with the segment's
// frames and nothing the job reports itself.
plan::RunOptions segment_options(const Manifest& m, const Segment& seg, const std::string& part,
                                 bool quiet) {
  plan::RunOptions options = job_options(m);
  // A rotated input is turned in the segments exactly when one run into the final output would
  // turn it (decided before the output becomes a NUT part): the join then writes, or leaves out,
  // the rotation as that run would.
  options.autorotate = plan::autorotates(options);
  // The codec the final output's container gets, fixed before the segment's own container.
  if (options.codec.empty()) {
    encode::EncoderSettings final_output;
    final_output.output = m.output;
    final_output.format = options.format;
    options.codec = encode::default_video_encoder(final_output);
  }
  if (options.codec == "libx264") {
    // Independent encodes whose headers do not depend on their content, so they join.
    std::string& params = options.codec_options["x264-params"];
    if (params.find("stitchable") == std::string::npos)
      params += std::string(params.empty() ? "" : ":") + "stitchable=1";
  }
  options.output = part;
  options.format = "nut";  // exact timestamps in the input's time base, any codec
  options.overwrite = true;
  options.faststart = false;
  options.no_audio = true;
  options.start_s.reset();
  options.duration_s.reset();
  options.pts_range =
      plan::PtsRange{seg.seek_pts, seg.preroll_pts, seg.begin_pts,
                     seg.end_pts,  m.origin_pts,    seg.first_frame - seg.preroll_frames};
  options.stats_json.clear();
  options.metrics.clear();
  options.metrics_linger_s = 0;
  options.metrics_textfile.clear();
  options.metrics_push.clear();
  options.progress_file.clear();  // the segment command reports its own progress
  options.dry_run = false;
  options.quiet = quiet || options.quiet;
  if (quiet) options.progress = "none";
  return options;
}

}  // namespace

int run_segment(const std::string& workdir, const std::string& index_text, bool quiet) {
  const Manifest m = load_checked(workdir);
  const int k = segment_index(index_text, m);
  const Segment& seg = m.segments[static_cast<std::size_t>(k)];
  if (segment_states(workdir, m)[static_cast<std::size_t>(k)].state == State::kDone) {
    if (!quiet) std::printf("segment %d already done\n", k);
    return 0;
  }
  // Whatever an earlier attempt left (killed, requeued) goes.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(workdir + "/segments", ec)) {
    if (is_part_of(e.path().filename().string(), k)) fs::remove(e.path(), ec);
  }
  const std::string part = workdir + "/segments/" + segment_name(k) + ".nut." + host_name() + "-" +
                           std::to_string(getpid()) + ".part";
  const plan::RunOptions options = segment_options(m, seg, part, quiet);

  const auto began = std::chrono::steady_clock::now();
  const int code = supervisor::run(options);
  if (code != 0) {
    fs::remove(part, ec);
    return code;
  }
  const SegmentFile file = read_segment(part);
  if (file.packets != seg.frames) {
    fs::remove(part, ec);
    fail(ExitCode::kRunFailed, "segment " + std::to_string(k) + " has " +
                                   std::to_string(file.packets) + " frames, the plan " +
                                   std::to_string(seg.frames) + " (stopped early?): not published");
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const char* restarts = std::getenv("SLURM_RESTART_COUNT");
  const json sidecar{{"index", k},
                     {"frames", file.packets},
                     {"first_pts", file.first_pts},
                     {"last_pts", file.last_pts},
                     {"time_base", {file.time_base.num, file.time_base.den}},
                     {"extradata_sha256", file.extradata_sha256},
                     {"options_hash", m.options_hash},
                     {"bytes", fs::file_size(part)},
                     {"host", host_name()},
                     {"wall_s", wall_s},
                     {"restart_count", restarts != nullptr ? std::atoi(restarts) : 0}};
  if (std::rename(part.c_str(), media_path(workdir, k).c_str()) != 0)
    fail(ExitCode::kOutput, "cannot publish segment " + std::to_string(k));
  publish_text(sidecar_path(workdir, k), sidecar.dump(2));
  if (!quiet) {
    std::printf("segment %d done: %lld frames in %.1f s\n", k, static_cast<long long>(file.packets),
                wall_s);
  }
  return 0;
}

int print_status(const std::string& workdir, bool missing, bool as_json) {
  const Manifest m = load_checked(workdir);
  const std::vector<SegmentState> states = segment_states(workdir, m);
  if (missing) {
    std::vector<int> todo;
    for (std::size_t i = 0; i < states.size(); ++i) {
      if (states[i].state != State::kDone) todo.push_back(static_cast<int>(i));
    }
    std::printf("%s\n", format_indices(todo).c_str());
    return 0;
  }
  if (as_json) {
    json list = json::array();
    for (std::size_t i = 0; i < states.size(); ++i) {
      list.push_back({{"index", i},
                      {"state", state_name(states[i].state)},
                      {"frames", m.segments[i].frames},
                      {"why", states[i].why}});
    }
    std::printf("%s\n", json{{"segments", list}, {"output", m.output}}.dump(2).c_str());
    return 0;
  }
  std::map<State, int> count;
  for (const auto& s : states) ++count[s.state];
  std::printf("%s: %zu segments, %d done, %d running, %d missing, %d invalid\n", workdir.c_str(),
              states.size(), count[State::kDone], count[State::kRunning], count[State::kMissing],
              count[State::kInvalid]);
  for (std::size_t i = 0; i < states.size(); ++i) {
    std::printf("  %5zu  %-8s %6lld frames%s%s\n", i, state_name(states[i].state),
                static_cast<long long>(m.segments[i].frames), states[i].why.empty() ? "" : "  ",
                states[i].why.c_str());
  }
  return 0;
}

namespace {

// Fails unless every segment is done, naming those missing or invalid.
void require_all_done(const std::string& workdir, const std::vector<SegmentState>& states) {
  std::vector<int> missing, invalid;
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (states[i].state == State::kInvalid)
      invalid.push_back(static_cast<int>(i));
    else if (states[i].state != State::kDone)
      missing.push_back(static_cast<int>(i));
  }
  if (missing.empty() && invalid.empty()) return;
  std::string what;
  if (!missing.empty()) what += "segments " + format_indices(missing) + " missing";
  if (!invalid.empty())
    what += std::string(what.empty() ? "" : ", ") + "segments " + format_indices(invalid) +
            " invalid (" + states[static_cast<std::size_t>(invalid.front())].why + ")";
  fail(ExitCode::kRunFailed, "join: " + what + " (run `vpipe segments submit --workdir " + workdir +
                                 " --resume` to encode them again)");
}

// The segments on the output's timeline (its time base `out_tb`): each one's packets' pts in
// decode order, and the shift that puts its first frame where the plan begins it.
struct Timeline {
  std::vector<std::vector<std::int64_t>> pts;
  std::vector<std::int64_t> shifts;
  AVRational tb{1, 1};  // the segments' own time base
};

// Reads every segment's timestamps; their codec headers must agree.
Timeline read_timeline(const std::string& workdir, const Manifest& m, AVRational out_tb) {
  Timeline t;
  t.pts.resize(m.segments.size());
  t.shifts.assign(m.segments.size(), 0);
  std::string extradata;
  for (const Segment& s : m.segments) {
    const auto index = static_cast<std::size_t>(s.index);
    const SegmentFile f = read_segment(media_path(workdir, s.index), &t.pts[index]);
    if (s.index == 0) {
      extradata = f.extradata_sha256;
      t.tb = f.time_base;
    } else if (f.extradata_sha256 != extradata || av_cmp_q(f.time_base, t.tb) != 0) {
      fail(ExitCode::kRunFailed, "join: segment " + std::to_string(s.index) +
                                     " was encoded with other codec headers than segment 0: "
                                     "plan and encode again");
    }
    // Where the segment starts on the output's timeline. A muxer may have moved a segment's
    // timestamps by a constant (NUT keeps decode timestamps non-negative, so a B-frame encoder's
    // delay shifts them); the plan's begin puts them back exactly.
    const std::int64_t want = av_rescale_q(s.begin_pts - m.origin_pts, m.time_base, out_tb);
    const std::int64_t shift = want - av_rescale_q(f.first_pts, t.tb, out_tb);
    const double shift_s = static_cast<double>(-shift) * av_q2d(out_tb);
    if (shift_s < -0.001 || shift_s > 1.0)
      fail(ExitCode::kRunFailed,
           "join: segment " + std::to_string(s.index) + " starts at " +
               std::to_string(static_cast<double>(f.first_pts) * av_q2d(t.tb)) +
               " s, the plan at " + std::to_string(static_cast<double>(want) * av_q2d(out_tb)) +
               " s");
    t.shifts[index] = shift;
    for (auto& p : t.pts[index]) p = av_rescale_q(p, t.tb, out_tb) + shift;
  }
  return t;
}

// Decode timestamps for the whole stream: the i-th packet gets the (i - d)-th smallest pts, d the
// deepest reordering of any packet, so dts never passes pts and always increases; the first d
// packets count back from the smallest by `frame_ticks`.
std::vector<std::int64_t> decode_timestamps(const Timeline& t, std::int64_t frame_ticks) {
  std::vector<std::int64_t> all;
  for (const auto& p : t.pts) all.insert(all.end(), p.begin(), p.end());
  std::vector<std::int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  std::int64_t depth = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto rank = std::lower_bound(sorted.begin(), sorted.end(), all[i]) - sorted.begin();
    depth = std::max<std::int64_t>(depth, static_cast<std::int64_t>(i) - rank);
  }
  std::vector<std::int64_t> dts(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    dts[i] = i >= static_cast<std::size_t>(depth)
                 ? sorted[i - static_cast<std::size_t>(depth)]
                 : sorted[0] - (depth - static_cast<std::int64_t>(i)) * frame_ticks;
  }
  return dts;
}

// Writes the segments' packets, re-timed, into `settings.output` with the plan's container.
void write_joined(const std::string& workdir, const Manifest& m, const plan::RunPlan& plan,
                  const encode::EncoderSettings& settings, const Timeline& t,
                  const std::vector<std::int64_t>& dts, AVRational out_tb) {
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, media_path(workdir, 0).c_str(), nullptr, nullptr) < 0)
    fail(ExitCode::kRunFailed, "join: segment 0 cannot be read");
  av::InputContextPtr first(raw);
  avformat_find_stream_info(raw, nullptr);
  std::unique_ptr<encode::Encoder> out =
      encode::Encoder::open_remux(settings, plan.stream_params(), raw->streams[0]->codecpar, out_tb,
                                  plan::open_audio_track(plan, std::nullopt));
  first.reset();
  const av::PacketPtr packet(av_packet_alloc());
  std::size_t i = 0;
  for (const Segment& s : m.segments) {
    AVFormatContext* in = nullptr;
    if (avformat_open_input(&in, media_path(workdir, s.index).c_str(), nullptr, nullptr) < 0)
      fail(ExitCode::kRunFailed, "join: segment " + std::to_string(s.index) + " cannot be read");
    const av::InputContextPtr input(in);
    while (av_read_frame(in, packet.get()) >= 0) {
      av_packet_rescale_ts(packet.get(), t.tb, out_tb);
      packet->pts += t.shifts[static_cast<std::size_t>(s.index)];
      packet->dts = dts[i++];
      packet->pos = -1;
      out->write_packet(packet.get(), out_tb);
      av_packet_unref(packet.get());
    }
  }
  out->finish(/*stopped_early=*/plan.duration_s > 0);
}

}  // namespace

void join(const std::string& workdir, bool quiet) {
  const Manifest m = load_checked(workdir);
  require_all_done(workdir, segment_states(workdir, m));
  plan::RunOptions options = job_options(m);
  av::route_logs_to_spdlog(/*quiet=*/true);
  const plan::RunPlan plan = plan::make_plan(options, affinity::read_topology());
  // The encoder's time base, as one run over the whole range would have used.
  const AVRational out_tb = plan.stream_params().time_base;
  const Timeline timeline = read_timeline(workdir, m, out_tb);
  const std::int64_t frame_ticks =
      m.frame_rate.num > 0
          ? std::max<std::int64_t>(1, av_rescale_q(1, av_inv_q(m.frame_rate), out_tb))
          : 1;
  const std::vector<std::int64_t> dts = decode_timestamps(timeline, frame_ticks);

  encode::EncoderSettings settings = plan.encoder;
  const AVOutputFormat* fmt =
      av_guess_format(settings.format.empty() ? nullptr : settings.format.c_str(),
                      settings.format.empty() ? m.output.c_str() : nullptr, nullptr);
  if (fmt == nullptr) fail(ExitCode::kUsage, "cannot tell the container of '" + m.output + "'");
  settings.format = fmt->name;
  const std::string part = m.output + ".vpipe-join.part";
  settings.output = part;
  settings.overwrite = true;
  std::error_code ec;
  try {
    write_joined(workdir, m, plan, settings, timeline, dts, out_tb);
  } catch (...) {
    fs::remove(part, ec);
    throw;
  }
  if (std::rename(part.c_str(), m.output.c_str()) != 0) {
    fs::remove(part, ec);
    fail(ExitCode::kOutput, "cannot rename the joined file to '" + m.output + "'");
  }
  if (!quiet) {
    std::printf("joined %zu segments: %zu frames into %s\n", m.segments.size(), dts.size(),
                m.output.c_str());
  }
}

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_stop(int) {
  g_stop = 1;
}

}  // namespace

namespace {

// The segments not done yet, longest first, so the last jobs to finish are short ones.
std::vector<int> segments_to_do(const Manifest& m, const std::vector<SegmentState>& states) {
  std::vector<int> todo;
  for (const Segment& s : m.segments) {
    if (states[static_cast<std::size_t>(s.index)].state != State::kDone) todo.push_back(s.index);
  }
  std::stable_sort(todo.begin(), todo.end(), [&](int a, int b) {
    return m.segments[static_cast<std::size_t>(a)].frames >
           m.segments[static_cast<std::size_t>(b)].frames;
  });
  return todo;
}

// Disjoint CPU sets of whole cores, one per concurrent job (shared when jobs > cores).
std::vector<std::vector<int>> job_cpu_sets(const affinity::Topology& topo, int jobs) {
  const int cores = std::max<int>(1, static_cast<int>(topo.cores.size()));
  std::vector<std::vector<int>> sets(static_cast<std::size_t>(jobs));
  for (int c = 0; c < static_cast<int>(topo.cores.size()); ++c) {
    auto& set = sets[static_cast<std::size_t>(c * jobs / cores)];
    const auto& pus = topo.cores[static_cast<std::size_t>(c)].pus;
    set.insert(set.end(), pus.begin(), pus.end());
  }
  for (int j = 0; j < jobs; ++j) {
    if (sets[static_cast<std::size_t>(j)].empty() && !topo.cores.empty())
      sets[static_cast<std::size_t>(j)] = topo.cores[static_cast<std::size_t>(j % cores)].pus;
  }
  return sets;
}

// Starts `vpipe segments run --index K` on `cpus`, its output into `log`. The job is born on its
// CPUs: this process takes its set for the fork and gives it back after, so no moment of the
// child runs on (or is seen on) another job's CPUs.
pid_t start_segment_job(const std::string& workdir, int index, const std::vector<int>& cpus,
                        const std::string& log) {
  cpu_set_t own, set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  const bool bound =
      sched_getaffinity(0, sizeof own, &own) == 0 && sched_setaffinity(0, sizeof set, &set) == 0;
  const pid_t pid = fork();
  if (pid != 0 && bound) sched_setaffinity(0, sizeof own, &own);
  if (pid == 0) {
    if (!bound) sched_setaffinity(0, sizeof set, &set);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    const std::string text = std::to_string(index);
    execl("/proc/self/exe", "vpipe", "segments", "run", "--workdir", workdir.c_str(), "--index",
          text.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) fail(ExitCode::kRunFailed, "cannot start a segment job");
  return pid;
}

// The local engine's run of the jobs: `jobs` at a time, each on its CPU set; a failed job is
// tried again up to the engine's limit (a usage error never is); a stop signal kills the
// running ones. Progress goes to stderr.
class LocalJobs {
 public:
  LocalJobs(const std::string& workdir, const LocalEngine& engine, const Manifest& m,
            std::vector<int> todo, std::vector<std::vector<int>> sets, std::int64_t frames_done)
      : workdir_(workdir),
        engine_(engine),
        m_(m),
        sets_(std::move(sets)),
        queue_(std::move(todo)),
        busy_(sets_.size(), false),
        frames_done_(frames_done),
        frames_before_(frames_done),
        tty_(isatty(STDERR_FILENO) != 0) {}

  // Runs until every job has ended or a stop signal came (true: stopped). `failed()` lists the
  // segments that failed every try.
  bool run() {
    struct sigaction action {};
    action.sa_handler = on_stop;
    struct sigaction old_int {
    }, old_term{};
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    g_stop = 0;
    auto last_line = began_;
    while ((!queue_.empty() || !running_.empty()) && g_stop == 0) {
      start_free_jobs();
      if (reap_one()) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const auto now = std::chrono::steady_clock::now();
      if (now - last_line > std::chrono::seconds(tty_ ? 1 : 5)) {
        last_line = now;
        progress(false);
      }
    }
    const bool stopped = g_stop != 0;
    if (stopped) {
      for (const auto& [pid, r] : running_) kill(pid, SIGKILL);
      for (const auto& [pid, r] : running_) waitpid(pid, nullptr, 0);
    }
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    progress(true);
    return stopped;
  }

  [[nodiscard]] std::vector<int> failed() const { return failed_; }

 private:
  struct Running {
    int index;
    int set;
  };

  void start_free_jobs() {
    for (std::size_t j = 0; j < sets_.size() && !queue_.empty(); ++j) {
      if (busy_[j]) continue;
      const int k = queue_.front();
      queue_.erase(queue_.begin());
      ++tries_[k];
      const pid_t pid =
          start_segment_job(workdir_, k, sets_[j], workdir_ + "/logs/" + segment_name(k) + ".log");
      running_[pid] = {k, static_cast<int>(j)};
      busy_[j] = true;
    }
  }

  // A job that ended: counted, tried again, or failed. False when none has.
  bool reap_one() {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0 || running_.count(pid) == 0) return false;
    const Running r = running_[pid];
    running_.erase(pid);
    busy_[static_cast<std::size_t>(r.set)] = false;
    const int code = shell_exit_code(status);
    if (code == 0) {
      frames_done_ += m_.segments[static_cast<std::size_t>(r.index)].frames;
    } else if (tries_[r.index] < engine_.max_tries && code != static_cast<int>(ExitCode::kUsage)) {
      if (!engine_.quiet)
        std::fprintf(stderr,
                     "%ssegment %d failed (exit %d), trying again (%d of %d); log: "
                     "%s/logs/%s.log\n",
                     tty_ ? "\n" : "", r.index, code, tries_[r.index] + 1, engine_.max_tries,
                     workdir_.c_str(), segment_name(r.index).c_str());
      queue_.push_back(r.index);
    } else {
      failed_.push_back(r.index);
    }
    return true;
  }

  void progress(bool final_line) const {
    if (engine_.quiet) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
    const double fps = s > 0 ? static_cast<double>(frames_done_ - frames_before_) / s : 0;
    const double eta = fps > 0 ? static_cast<double>(m_.frames - frames_done_) / fps : 0;
    const int done =
        static_cast<int>(m_.segments.size() - queue_.size() - running_.size() - failed_.size());
    std::fprintf(stderr,
                 "%ssegments: %d/%zu done, %zu running, %zu failed; frames %lld/%lld; "
                 "%.1f fps; ETA %.0f s%s",
                 tty_ ? "\r" : "", done, m_.segments.size(), running_.size(), failed_.size(),
                 static_cast<long long>(frames_done_), static_cast<long long>(m_.frames), fps, eta,
                 tty_ && !final_line ? "   " : "\n");
  }

  const std::string& workdir_;
  const LocalEngine& engine_;
  const Manifest& m_;
  const std::vector<std::vector<int>> sets_;
  std::vector<int> queue_;
  std::vector<bool> busy_;
  std::map<pid_t, Running> running_;
  std::map<int, int> tries_;
  std::vector<int> failed_;
  std::int64_t frames_done_;
  const std::int64_t frames_before_;
  const bool tty_;
  const std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
};

}  // namespace

int submit_local(const std::string& workdir, const LocalEngine& engine) {
  const Manifest m = load_checked(workdir);
  const std::vector<SegmentState> states = segment_states(workdir, m);
  const std::vector<int> todo = segments_to_do(m, states);
  const affinity::Topology topo = affinity::read_topology();
  const int cores = std::max<int>(1, static_cast<int>(topo.cores.size()));
  const int jobs = std::max(
      1, std::min(engine.jobs > 0 ? engine.jobs
                                  : auto_jobs(cores, static_cast<int>(todo.size()), m.job_bytes),
                  std::max<int>(1, static_cast<int>(todo.size()))));
  const std::vector<std::vector<int>> sets = job_cpu_sets(topo, jobs);
  if (!engine.quiet || engine.dry_run) {
    std::printf("local engine: %zu of %zu segments to encode, %d jobs at a time", todo.size(),
                m.segments.size(), jobs);
    for (int j = 0; j < jobs; ++j)
      std::printf("%s cpus %s", j == 0 ? ":" : ",",
                  affinity::format_cpus(sets[static_cast<std::size_t>(j)]).c_str());
    std::printf("; then the join into %s\n", m.output.c_str());
    std::fflush(stdout);
  }
  if (engine.dry_run) return 0;

  std::error_code ec;
  fs::create_directories(workdir + "/logs", ec);
  std::int64_t frames_done = 0;
  for (const Segment& s : m.segments) {
    if (states[static_cast<std::size_t>(s.index)].state == State::kDone) frames_done += s.frames;
  }
  LocalJobs local(workdir, engine, m, todo, sets, frames_done);
  if (local.run()) {
    fail(ExitCode::kInterrupted,
         "stopped; the segments done are kept: resume with `vpipe "
         "segments submit --workdir " +
             workdir + " --resume`");
  }
  std::vector<int> failed = local.failed();
  if (!failed.empty()) {
    std::sort(failed.begin(), failed.end());
    fail(ExitCode::kRunFailed, "segments " + format_indices(failed) + " failed after " +
                                   std::to_string(engine.max_tries) + " tries (logs in " + workdir +
                                   "/logs); resume with `vpipe segments submit "
                                   "--workdir " +
                                   workdir + " --resume`");
  }
  join(workdir, engine.quiet);
  return 0;
}

namespace {

// Runs `argv` (PATH searched), returns its exit code; its standard output into `out`.
int capture(const std::vector<std::string>& argv, std::string* out) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "vpipe: error: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(pipefd[1]);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(pipefd[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  if (out != nullptr) *out = text;
  return shell_exit_code(status);
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// sbatch --parsable ... -> the job id.
std::string sbatch(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  const int code = capture(argv, &out);
  if (code == 127)
    fail(ExitCode::kUsage,
         "slurm engine: sbatch not found (install slurm-client; SLURM_CONF "
         "names the cluster)");
  if (code != 0)
    fail(ExitCode::kRunFailed, "slurm engine: sbatch exited with " + std::to_string(code));
  out = trim(out);
  return out.substr(0, out.find(';'));  // "ID;cluster"
}

// Whether any job of `ids` ("12,13") is still in the queue.
bool in_queue(const std::string& ids) {
  std::string out;
  if (capture({"squeue", "-h", "-j", ids, "-o", "%i"}, &out) != 0) return false;
  return !trim(out).empty();
}

// "COMPLETED", "CANCELLED", ... for a finished job (kept MinJobAge seconds), or "".
std::string job_state(const std::string& id) {
  std::string out;
  if (capture({"scontrol", "show", "job", "-o", id}, &out) != 0) return "";
  const auto at = out.find("JobState=");
  if (at == std::string::npos) return "";
  return out.substr(at + 9, out.find(' ', at) - at - 9);
}

}  // namespace

namespace {

struct SlurmScripts {
  std::string segments;  // an array job: one segment per task
  std::string join;
};

// Writes the batch scripts of a job into `workdir`/slurm: `cpus` per segment task.
SlurmScripts write_slurm_scripts(const std::string& workdir, const Manifest& m, int cpus) {
  std::error_code ec;
  const std::string vpipe = fs::read_symlink("/proc/self/exe", ec).string();
  fs::create_directories(workdir + "/slurm", ec);
  fs::create_directories(workdir + "/logs", ec);
  SlurmScripts scripts{workdir + "/slurm/segments.sbatch", workdir + "/slurm/join.sbatch"};
  publish_text(scripts.segments,
               "#!/bin/sh\n"
               "# One segment of " +
                   m.output +
                   " per array task (written by vpipe segments "
                   "submit).\n#SBATCH --job-name=vpipe-segments\n#SBATCH --cpus-per-task=" +
                   std::to_string(cpus) +
                   "\n#SBATCH --open-mode=append\n#SBATCH --requeue\n#SBATCH --output=" + workdir +
                   "/logs/%A_%a.log\nexec " + vpipe + " segments run --workdir " + workdir +
                   " --index env\n");
  publish_text(scripts.join, "#!/bin/sh\n# Joins the segments into " + m.output +
                                 ".\n#SBATCH --job-name=vpipe-join\n#SBATCH --output=" + workdir +
                                 "/logs/join_%j.log\nexec " + vpipe + " segments join --workdir " +
                                 workdir + "\n");
  fs::permissions(scripts.segments, fs::perms::owner_exec | fs::perms::group_exec,
                  fs::perm_options::add, ec);
  fs::permissions(scripts.join, fs::perms::owner_exec | fs::perms::group_exec,
                  fs::perm_options::add, ec);
  return scripts;
}

// Waits while any of the jobs `ids` is queued or running, with a progress line every 5 s.
void wait_for_slurm(const std::string& ids, const std::string& workdir, const Manifest& m,
                    bool quiet) {
  auto last_line = std::chrono::steady_clock::now();
  while (in_queue(ids)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (quiet || std::chrono::steady_clock::now() - last_line <= std::chrono::seconds(5)) continue;
    last_line = std::chrono::steady_clock::now();
    std::int64_t frames = 0;
    int done = 0;
    const auto now_states = segment_states(workdir, m);
    for (std::size_t i = 0; i < now_states.size(); ++i) {
      if (now_states[i].state != State::kDone) continue;
      ++done;
      frames += m.segments[i].frames;
    }
    std::fprintf(stderr, "segments: %d/%zu done; frames %lld/%lld\n", done, m.segments.size(),
                 static_cast<long long>(frames), static_cast<long long>(m.frames));
  }
}

}  // namespace

int submit_slurm(const std::string& dir_given, const SlurmEngine& engine) {
  std::error_code ec;
  const std::string workdir = fs::absolute(dir_given, ec).lexically_normal().string();
  const Manifest m = load_checked(workdir);
  const int cpus = engine.cpus_per_task > 0 ? engine.cpus_per_task : m.cpus_per_job;
  const SlurmScripts scripts = write_slurm_scripts(workdir, m, cpus);

  std::map<int, int> tries;
  for (;;) {
    const std::vector<int> todo = segments_to_do(m, segment_states(workdir, m));
    for (int k : todo) {
      if (tries[k] >= engine.max_tries) {
        fail(ExitCode::kRunFailed, "segments " + format_indices(todo) + " failed " +
                                       std::to_string(engine.max_tries) + " times (logs in " +
                                       workdir +
                                       "/logs); resume with `vpipe segments submit "
                                       "--workdir " +
                                       workdir + " --engine slurm --resume`");
      }
    }
    std::vector<std::string> array_args;
    if (!todo.empty()) {
      array_args.push_back("--array=" + format_indices(todo) +
                           (engine.jobs > 0 ? "%" + std::to_string(engine.jobs) : ""));
      array_args.insert(array_args.end(), engine.sbatch_options.begin(),
                        engine.sbatch_options.end());
      array_args.push_back(scripts.segments);
    }
    if (engine.dry_run) {
      if (!todo.empty()) {
        std::printf("sbatch --parsable");
        for (const auto& a : array_args) std::printf(" %s", a.c_str());
        std::printf("\n");
      }
      std::printf("sbatch --parsable%s --kill-on-invalid-dep=yes %s\n",
                  todo.empty() ? "" : " --dependency=afterok:<array job>", scripts.join.c_str());
      return 0;
    }
    std::string array_id;
    if (!todo.empty()) {
      array_id = sbatch(array_args);
      for (int k : todo) ++tries[k];
    }
    std::vector<std::string> join_args;
    if (!array_id.empty()) join_args.push_back("--dependency=afterok:" + array_id);
    join_args.push_back("--kill-on-invalid-dep=yes");
    join_args.insert(join_args.end(), engine.sbatch_options.begin(), engine.sbatch_options.end());
    join_args.push_back(scripts.join);
    const std::string join_id = sbatch(join_args);
    if (!engine.quiet) {
      if (!todo.empty())
        std::printf("submitted segments %s as array job %s; join: job %s\n",
                    format_indices(todo).c_str(), array_id.c_str(), join_id.c_str());
      else
        std::printf("every segment is done; join: job %s\n", join_id.c_str());
      std::fflush(stdout);
    }
    if (!engine.wait) return 0;
    const std::string ids = array_id.empty() ? join_id : array_id + "," + join_id;
    wait_for_slurm(ids, workdir, m, engine.quiet);
    const std::string state = job_state(join_id);
    if (state == "COMPLETED" && fs::exists(m.output)) {
      if (!engine.quiet)
        std::printf("joined into %s (job %s)\n", m.output.c_str(), join_id.c_str());
      return 0;
    }
    if (todo.empty() || state == "FAILED") {
      fail(ExitCode::kRunFailed, "slurm engine: the join (job " + join_id + ") ended " +
                                     (state.empty() ? "without a record" : state) +
                                     "; its log: " + workdir + "/logs/join_" + join_id + ".log");
    }
    if (!engine.quiet) {
      const std::vector<int> left = segments_to_do(m, segment_states(workdir, m));
      std::fprintf(stderr, "segments %s did not finish (join %s %s): submitting them again\n",
                   format_indices(left).c_str(), join_id.c_str(), state.c_str());
    }
  }
}

namespace {

// The folder a Kubernetes volume must hold so that every pod sees the input, the job's folder and
// the output at the same paths: their deepest common folder, unless the engine names one.
std::string k8s_mount(const std::string& workdir, const Manifest& m, const K8sEngine& engine) {
  if (!engine.mount.empty()) return engine.mount;
  fs::path common = fs::path(workdir);
  for (const std::string& p : {m.input.path, m.output}) {
    fs::path a = common, b = fs::path(p).parent_path(), shared;
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end() && ib != b.end() && *ia == *ib; ++ia, ++ib) shared /= *ia;
    common = shared;
  }
  return common.string();
}

std::string quote(const std::string& s) {
  return json(s).dump();
}

// What every Job of a vpipe job shares: its label, image, CPUs, volume and claim.
struct K8sJobBase {
  std::string id;  // the job's label value (from its options' hash)
  std::string image;
  int cpus = 1;
  std::string mount;
  std::string claim;
};

// A batch/v1 Job `name` (`what` in its comment) with the spec lines `completions` that runs
// `command` (a JSON list) in one container.
std::string k8s_job_yaml(const K8sJobBase& base, const std::string& name, const std::string& what,
                         const std::string& completions, const std::string& command) {
  const std::string& id = base.id;
  const std::string& image = base.image;
  const std::string& mount = base.mount;
  const int cpus = base.cpus;
  return "# " + what +
         " (written by vpipe segments submit --engine k8s).\n"
         "# The claim " +
         base.claim + " holds " + mount +
         " (input, job folder and output) for every pod.\n"
         "apiVersion: batch/v1\n"
         "kind: Job\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "  labels:\n"
         "    app.kubernetes.io/name: vpipe\n"
         "    vpipe/job: \"" +
         id +
         "\"\n"
         "spec:\n" +
         completions +
         "  template:\n"
         "    metadata:\n"
         "      labels:\n"
         "        vpipe/job: \"" +
         id +
         "\"\n"
         "    spec:\n"
         "      restartPolicy: Never\n"
         "      containers:\n"
         "        - name: vpipe\n"
         "          image: " +
         quote(image) +
         "\n"
         "          command: " +
         command +
         "\n"
         "          resources:\n"
         "            requests: {cpu: \"" +
         std::to_string(cpus) +
         "\", memory: 2Gi}\n"
         "            limits: {cpu: \"" +
         std::to_string(cpus) +
         "\"}\n"
         "          volumeMounts:\n"
         "            - {name: work, mountPath: " +
         quote(mount) +
         "}\n"
         "      volumes:\n"
         "        - name: work\n"
         "          persistentVolumeClaim: {claimName: " +
         quote(base.claim) + "}\n";
}

// Applies the Jobs in order, waiting for each to complete.
void apply_k8s_jobs(const std::vector<std::pair<std::string, std::string>>& files_and_names,
                    bool quiet) {
  const auto kubectl = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv{"kubectl"};
    argv.insert(argv.end(), args.begin(), args.end());
    const int code = capture(argv, nullptr);
    if (code == 127) fail(ExitCode::kUsage, "k8s engine: kubectl not found");
    return code;
  };
  for (const auto& [file, name] : files_and_names) {
    if (kubectl({"apply", "-f", file}) != 0)
      fail(ExitCode::kRunFailed, "k8s engine: kubectl apply -f " + file + " failed");
    if (!quiet) std::printf("applied job/%s; waiting for it\n", name.c_str());
    std::fflush(stdout);
    if (kubectl({"wait", "--for=condition=complete", "--timeout=-1s", "job/" + name}) != 0)
      fail(ExitCode::kRunFailed, "k8s engine: job/" + name +
                                     " did not complete (kubectl "
                                     "describe job/" +
                                     name + ")");
  }
}

}  // namespace

int submit_k8s(const std::string& dir_given, const K8sEngine& engine) {
  std::error_code ec;
  const std::string workdir = fs::absolute(dir_given, ec).lexically_normal().string();
  const Manifest m = load_checked(workdir);
  const int parallel = engine.jobs > 0 ? engine.jobs : 4;
  const K8sJobBase base{m.options_hash.substr(m.options_hash.size() - 8),
                        engine.image.empty() ? std::string("vpipe:") + VPIPE_VERSION : engine.image,
                        engine.cpus_per_task > 0 ? engine.cpus_per_task : m.cpus_per_job,
                        k8s_mount(workdir, m, engine), engine.claim};
  const std::string seg_name = "vpipe-segments-" + base.id, join_name = "vpipe-join-" + base.id;
  const std::string segments_yaml =
      k8s_job_yaml(base, seg_name,
                   "One pod per segment of " + m.output + "; a segment already done exits at once",
                   "  completionMode: Indexed\n"
                   "  completions: " +
                       std::to_string(m.segments.size()) +
                       "\n"
                       "  parallelism: " +
                       std::to_string(parallel) +
                       "\n"
                       "  backoffLimitPerIndex: " +
                       std::to_string(std::max(0, engine.max_tries - 1)) +
                       "\n"
                       "  maxFailedIndexes: 0\n",
                   "[\"vpipe\", \"segments\", \"run\", \"--workdir\", " + quote(workdir) +
                       ", \"--index\", \"env\"]");
  const std::string join_yaml = k8s_job_yaml(
      base, join_name, "The join of " + m.output + ", once every segment is done",
      "  completions: 1\n  backoffLimit: " + std::to_string(std::max(0, engine.max_tries - 1)) +
          "\n",
      "[\"vpipe\", \"segments\", \"join\", \"--workdir\", " + quote(workdir) + "]");
  fs::create_directories(workdir + "/k8s", ec);
  publish_text(workdir + "/k8s/segments-job.yaml", segments_yaml);
  publish_text(workdir + "/k8s/join-job.yaml", join_yaml);
  const std::string seg_file = workdir + "/k8s/segments-job.yaml";
  const std::string join_file = workdir + "/k8s/join-job.yaml";
  if (!engine.apply) {
    std::printf(
        "wrote %s and %s; run them with:\n"
        "  kubectl apply -f %s && kubectl wait --for=condition=complete --timeout=-1s "
        "job/%s\n  kubectl apply -f %s && kubectl wait --for=condition=complete "
        "--timeout=-1s job/%s\n",
        seg_file.c_str(), join_file.c_str(), seg_file.c_str(), seg_name.c_str(), join_file.c_str(),
        join_name.c_str());
    return 0;
  }
  apply_k8s_jobs({{seg_file, seg_name}, {join_file, join_name}}, engine.quiet);
  if (!engine.quiet) std::printf("joined into %s\n", m.output.c_str());
  return 0;
}

}  // namespace vpipe::segments
