// From options to a plan: workers and CPUs first (plan_stages), then, once decode has described
// the input, everything else (make_plan): every step's geometry, the encoder, container and
// output path, audio, and the pool and segment sizes.
#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/display.h>
}

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string_view>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/filter_graph.hpp"
#include "encode/preview_sink.hpp"
#include "plan/plan_text.hpp"
#include "plan/run_plan.hpp"
#include "plan/thread_budget.hpp"
#include "shm/run_segment.hpp"
#include "transform/filter_chain.hpp"

namespace vpipe::plan {
namespace {

// The pool's total size is capped so that a huge geometry fails at planning with a clear
// message instead of at mmap time (or by exhausting memory).
constexpr std::uint64_t kMaxSegmentBytes = 8ULL << 30;
// A stage process's own memory besides the pool, and the frames an encoder keeps (x264's
// lookahead and references), for fitting a run into a cgroup's memory limit.
constexpr std::uint64_t kProcessBytes = 64ULL << 20;
constexpr std::uint64_t kEncoderFrames = 24;
// Slots the decoder may keep as references and for reordering, beyond one per decoder thread
// (see make_plan).
constexpr std::uint32_t kDecoderReferenceSlots = 8;

// Audio from a file is read again by encode; from anything else (a stream, a camera, stdin)
// decode hands its packets on through the segment's audio ring. It is stream-copied when the
// output's container can hold its codec, else re-encoded to the container's usual codec (mp4:
// aac); -c:a chooses; when neither works it is dropped with a warning, never silently.
void plan_audio(RunPlan& plan, const RunOptions& options) {
  const auto& in = plan.input_info;
  // Encode reads a file's audio itself, from its own open of the file. Anything else (a stream,
  // stdin, a named pipe, a device) can be read once only, by decode.
  std::error_code error;
  const bool file_input = in.format.empty() && std::filesystem::is_regular_file(in.url, error);
  const std::string& wanted = options.audio_codec;
  plan.audio_bitrate = options.audio_bitrate.value_or(0);
  if (!wanted.empty() && wanted != "copy" && !encode::audio_encoder_exists(wanted))
    fail(ExitCode::kUsage, "audio encoder '" + wanted + "' is not available in this FFmpeg build");
  if (in.audio_stream_index < 0) {
    plan.audio_note = "none in the input";
  } else if (plan.null_output) {
    plan.audio_note = "not decoded (null output)";
  } else if (options.no_audio) {
    plan.audio_note = in.audio_codec + " dropped (-an)";
  } else if (wanted.empty() || wanted == "copy") {
    const av::CodecParametersPtr stream(avcodec_parameters_alloc());
    in.audio.fill(stream.get());
    std::string why;
    if (encode::container_accepts(plan.encoder, stream.get(), &why)) {
      plan.copy_audio = true;
      plan.audio_note = in.audio_codec + " copied as it is (stream copy)";
    } else if (wanted == "copy") {
      fail(ExitCode::kUsage, "-c:a copy: the output container cannot hold " + in.audio_codec +
                                 " audio" + (why.empty() ? "" : " (" + why + ")") +
                                 "; re-encode it (-c:a aac) or drop it (-an)");
    } else if (const std::string encoder = encode::default_audio_encoder(plan.encoder);
               !encoder.empty() && encode::container_accepts_encoder(plan.encoder, encoder)) {
      plan.copy_audio = true;
      plan.audio_encoder = encoder;
      plan.audio_note = in.audio_codec + " re-encoded to " + encoder + " (the output container " +
                        (why.empty() ? "cannot hold " + in.audio_codec
                                     : "refuses " + in.audio_codec + ": " + why) +
                        ")";
    } else {
      plan.audio_note = in.audio_codec + " dropped: the output container cannot hold it";
    }
  } else {
    if (!encode::container_accepts_encoder(plan.encoder, wanted))
      fail(ExitCode::kUsage, "the output container cannot hold " + wanted + " audio");
    plan.copy_audio = true;
    plan.audio_encoder = wanted;
    plan.audio_note = in.audio_codec + " re-encoded to " + wanted + " (-c:a)";
  }
  if (plan.copy_audio && !plan.audio_encoder.empty() && plan.audio_bitrate > 0)
    plan.audio_note += " at " + std::to_string(plan.audio_bitrate / 1000) + " kb/s";
  if (plan.copy_audio && !file_input) {
    plan.audio_from_decode = true;
    plan.audio_note += "; read once by decode, handed to encode in shared memory";
  }
  if (!plan.copy_audio && in.audio_stream_index >= 0 && !plan.null_output && !options.no_audio) {
    spdlog::warn("audio: {}", plan.audio_note);
  }
}

// A network output names no container: MPEG-TS for udp/tcp/srt, FLV for rtmp, RTSP for rtsp.
std::string stream_format_for(const std::string& output) {
  static const std::pair<const char*, const char*> kSchemes[] = {
      {"udp://", "mpegts"},     {"tcp://", "mpegts"}, {"srt://", "mpegts"},
      {"rtp://", "rtp_mpegts"}, {"rtmp://", "flv"},   {"rtsp://", "rtsp"}};
  for (const auto& [scheme, format] : kSchemes) {
    if (output.rfind(scheme, 0) == 0) return format;
  }
  return "";
}

// Live mode's encoder defaults, each only where the user set nothing: no B-frames and no
// lookahead (a frame's packet leaves with the frame), and a preset fast enough for real time.
// Returns what was set, for the plan.
std::string apply_live_encoder_defaults(encode::EncoderSettings& e) {
  std::string note;
  auto set = [&](const std::string& key, const std::string& value) {
    if (e.codec_options.count(key)) return;
    e.codec_options[key] = value;
    note += (note.empty() ? "" : " ") + key + "=" + value;
  };
  if (e.codec == "libx264" || e.codec == "libx265" || e.codec == "h264" || e.codec == "hevc") {
    set("tune", "zerolatency");
    if (e.preset.empty()) {
      e.preset = "veryfast";
      note += " preset=veryfast";
    }
  } else if (e.codec == "libvpx" || e.codec == "libvpx-vp9" || e.codec == "vp8" ||
             e.codec == "vp9") {
    set("deadline", "realtime");
    set("lag-in-frames", "0");
  } else if (e.codec == "mpeg4" || e.codec == "mpeg2video" || e.codec == "mpeg1video") {
    set("bf", "0");
  }
  return note.empty() ? "none needed for " + e.codec : note;
}

}  // namespace

namespace {

// --vf, and -s WxH: a scale after the chain, as ffmpeg's.
std::string chain_text(const RunOptions& options) {
  std::string vf = options.vf;
  if (!options.size.empty()) {
    const auto [w, h] = parse_size(options.size);
    vf += (vf.empty() ? "" : ",") + ("scale=" + std::to_string(w) + ":" + std::to_string(h));
  }
  return vf;
}

}  // namespace

RunPlan plan_stages(const RunOptions& options, const affinity::Topology& topology) {
  validate(options);
  RunPlan plan;
  plan.input = options.input;
  plan.quiet = options.quiet;
  plan.max_restarts = options.max_restarts;
  plan.hang_timeout_s = options.hang_timeout_s;
  plan.drain_timeout_s = options.drain_timeout_s;
  plan.progress = options.progress;
  plan.progress_file = options.progress_file;
  plan.log_level = effective_log_level(options);
  plan.log_file = options.log_file;
  plan.input_format = options.input_format;
  plan.maps = options.maps;
  plan.input_options = options.input_options;
  plan.input_timeout_s = options.input_timeout_s;
  // The chain is checked before the input is opened: a typo fails fast even on a slow URL.
  plan.vf = chain_text(options);
  const transform::FilterChain chain = transform::FilterChain::parse(plan.vf);
  plan.nb_workers =
      options.workers > 0 ? options.workers : affinity::default_workers(topology, !chain.empty());
  // auto: from one worker to every core the plan has for workers; N: N; MIN-MAX.
  plan.min_workers =
      options.workers == 0 ? 1 : (options.min_workers > 0 ? options.min_workers : options.workers);
  // A per-frame head runs on every worker, the rest in order in the encode stage; a chain that
  // must see frames in order from its first filter runs on one worker.
  if (chain.sequential() && plan.nb_workers > 1 &&
      transform::FilterChain::split_at_order(plan.vf).per_frame.empty()) {
    if (options.workers > 1) {
      spdlog::warn("the chain must see frames in order ({}): using 1 worker, not {}",
                   chain.why_sequential(), options.workers);
    }
    plan.nb_workers = 1;
    plan.min_workers = 1;
  }
  plan.memory_limit_bytes = topology.memory_limit_bytes;
  const int nb_outputs = static_cast<int>(options.more_outputs.size()) + 1;
  if (options.affinity == "auto" || options.affinity == "none") {
    plan.cpus = affinity::plan_cpus(
        topology, plan.nb_workers,
        options.affinity == "none" ? affinity::AffinityMode::kNone : affinity::AffinityMode::kAuto,
        nb_outputs);
  } else {
    plan.cpus = affinity::plan_explicit(topology, plan.nb_workers, options.affinity, nb_outputs);
  }
  if (!topology.limit_note.empty()) plan.cpus.note += " (" + topology.limit_note + ")";
  // The input opens with one decoder thread, or the user's; make_plan sets the run's from the
  // job (see plan_threads). Not pinned: libavcodec decides.
  plan.decoder_threads = options.decoder_threads > 0      ? options.decoder_threads
                         : plan.cpus_of("decode").empty() ? 0
                                                          : 1;
  return plan;
}

RunPlan make_plan(const RunOptions& options, const affinity::Topology& topology) {
  // A stream copy opens its input twice (this probe, then the copy): a pipe read once would
  // reach the copy without its start.
  if (options.codec == "copy" && (options.input == "-" || options.input.rfind("pipe:", 0) == 0)) {
    fail(ExitCode::kUsage,
         "-c copy cannot read a pipe (stdin): give it a file or a URL, or re-encode (-c:v "
         "libx264)");
  }
  const RunPlan stages = plan_stages(options, topology);
  decode::OpenSettings probe = stages.open_settings();
  probe.threads = 1;
  return make_plan(options, stages, decode::Decoder::open(options.input, probe).info());
}

namespace {

// The clockwise quarter turns that show `input` upright, where its rotation side data alone will
// not (see RunPlan::autorotate_degrees); 0 where it will or there is none.
int autorotation(const decode::InputInfo& input, const RunOptions& options) {
  if (input.display_matrix.size() != 9 || !autorotates(options)) return 0;
  const double ccw = av_display_rotation_get(input.display_matrix.data());
  if (std::isnan(ccw)) return 0;
  return ((-static_cast<int>(std::lround(ccw / 90)) * 90) % 360 + 360) % 360;
}

}  // namespace

bool autorotates(const RunOptions& options) {
  if (options.autorotate) return *options.autorotate;
  // The side data is enough where the output keeps it and nothing works on the pixels.
  encode::EncoderSettings output;
  output.output = options.output;
  output.format = options.format.empty() ? stream_format_for(options.output) : options.format;
  const bool kept = encode::keeps_rotation(output);
  return !(kept && options.vf.empty() && !options.no_metadata);
}

namespace {

bool is_hls(const RunPlan& p) {
  return p.encoder.format == "hls" ||
         (p.encoder.format.empty() && p.encoder.output.ends_with(".m3u8"));
}

// The output's container, encoder and the encoder's settings.
void plan_encoder(RunPlan& plan, const RunOptions& options) {
  plan.encoder.format = options.format.empty() ? stream_format_for(options.output) : options.format;
  plan.encoder.codec = !options.codec.empty() ? options.codec
                       : plan.null_output     ? "libx264"
                                              : encode::default_video_encoder(plan.encoder);
  plan.encoder.preset = options.preset;
  plan.encoder.crf = options.crf;
  plan.encoder.bitrate = options.bitrate;
  plan.encoder.gop = options.gop;
  plan.encoder.codec_options = options.codec_options;
  plan.encoder.muxer_options = options.muxer_options;
  plan.encoder.tags = options.metadata;
  plan.encoder.overwrite = options.overwrite;
  plan.encoder.faststart = options.faststart;
  if (const auto flags = options.muxer_options.find("movflags");
      flags != options.muxer_options.end() &&
      flags->second.find("faststart") != std::string::npos) {
    plan.encoder.faststart = true;  // -movflags +faststart: a classic MP4, as --faststart
  }
  plan.encoder.pix_fmt = options.pix_fmt;
  if (!plan.encoder.gop && is_hls(plan)) {
    // A keyframe at every segment boundary (-hls_time, 2 s by default): segments as long as
    // asked, not as long as the encoder's own keyframe interval.
    const auto it = options.muxer_options.find("hls_time");
    const double seconds = it == options.muxer_options.end() ? 2.0 : std::atof(it->second.c_str());
    const double fps = av_q2d(plan.output_frame_rate());
    if (seconds > 0 && fps > 0)
      plan.encoder.gop = std::max(1, static_cast<int>(std::lround(seconds * fps)));
  }
  if (plan.encoder.codec == "mpeg1video" && plan.output_rate.num == 0) {
    // MPEG-1 video has eight frame rates (FFmpeg's encoder lists none, so the ffmpeg CLI fails
    // on a 15 fps input): another rate becomes the nearest of them, frames repeated or dropped
    // by timestamp as -r does.
    static const AVRational kRates[] = {{24000, 1001}, {24, 1}, {25, 1},
                                        {30000, 1001}, {30, 1}, {50, 1},
                                        {60000, 1001}, {60, 1}, {0, 0}};
    const AVRational rate = plan.output_frame_rate();
    if (rate.num > 0 && std::none_of(std::begin(kRates), std::end(kRates) - 1,
                                     [&](AVRational r) { return av_cmp_q(r, rate) == 0; })) {
      plan.output_rate = kRates[av_find_nearest_q_idx(rate, kRates)];
      spdlog::warn(
          "mpeg1video takes 23.976, 24, 25, 29.97, 30, 50, 59.94 or 60 fps: {:.3g} fps "
          "becomes {:.3f} (-r to choose another)",
          av_q2d(rate), av_q2d(plan.output_rate));
    }
  }
  if (!plan.encoder.crf && !plan.encoder.bitrate) {
    // Constant quality where the codec's own default is a low fixed bitrate (MJPEG: 200 kb/s)
    // or a guess it warns about (VP9, AV1: CRF 32).
    const std::string& codec = plan.encoder.codec;
    if (codec == "libvpx-vp9" || codec == "libaom-av1") plan.encoder.crf = 32;
    if (codec == "mjpeg") plan.encoder.crf = 3;
  }
}

// The output side of the plan: where it goes, its container and encoder, audio and subtitles.
void plan_output(RunPlan& plan, const RunOptions& options) {
  plan.null_output = options.output == "null" || options.output == "preview";
  if (!options.tee.empty() && options.tee != "preview")
    fail(ExitCode::kUsage, "--tee '" + options.tee + "': the second output can only be 'preview'");
  if (options.tee == "preview" && options.output == "preview")
    fail(ExitCode::kUsage, "-o preview and --tee preview: one preview window is enough");
  plan.preview = options.output == "preview" || options.tee == "preview";
  if (plan.preview) {
    if (const std::string why = encode::PreviewSink::unavailable_reason(); !why.empty())
      fail(ExitCode::kUsage, "preview: " + why);
  }
  plan.encoder.output = options.output;
  if (options.output == "-") {
    // Standard output, as ffmpeg's `-`: the container cannot be guessed from a name.
    if (options.format.empty()) {
      fail(ExitCode::kUsage,
           "-o - writes to standard output: name its container with -f (matroska, mpegts, nut, "
           "or mp4, which is fragmented there)");
    }
    if (options.faststart)
      fail(ExitCode::kUsage, "--faststart needs a file it can seek in, not standard output");
    plan.encoder.output = "pipe:1";
  }
  plan_encoder(plan, options);
  plan.keep_metadata = !options.no_metadata;
  if (plan.input_info.bit_depth > 8) {
    spdlog::warn(
        "input is {}-bit {}: vpipe filters and encodes 8-bit YUV 4:2:0, so the output is "
        "8-bit (the extra precision is lost)",
        plan.input_info.bit_depth, plan.input_info.pix_fmt);
  }
  if (plan.live && !plan.null_output)
    plan.live_encoder_note = apply_live_encoder_defaults(plan.encoder);
  // Writing over the file being read would destroy it, -y or not (the ffmpeg CLI refuses too).
  std::error_code not_same;
  if (!plan.null_output &&
      std::filesystem::equivalent(plan.input_info.url, plan.encoder.output, not_same)) {
    fail(ExitCode::kUsage,
         "output '" + plan.encoder.output + "' is the input file: write to another file");
  }
  if (plan.stream_copy()) {
    if (!plan.vf.empty() || options.rate) {
      fail(ExitCode::kUsage,
           "-c:v copy passes the video's packets on unchanged: it cannot take --vf, -s or -r "
           "(re-encode instead, e.g. -c:v libx264)");
    }
  } else if (!plan.null_output) {
    encode::validate(plan.encoder);
  }
  plan_audio(plan, options);
  if (plan.input_info.subtitle_streams > 0 && !plan.null_output) {
    plan.subtitle_note = std::to_string(plan.input_info.subtitle_streams) +
                         " subtitle stream(s) in the input are not carried to the output";
    spdlog::warn("subtitles: {}", plan.subtitle_note);
  }
}

std::string join_chains(const std::string& a, const std::string& b) {
  return a + (a.empty() || b.empty() ? "" : ",") + b;
}

// Cuts the chain `plan.vf` for the stages: the workers run `workers_part` (its first filters);
// the encode stage the rest, in order (`vf_in_order`), and from the first filter that gives
// frames of its own, one graph (`vf_graph`), probed for its input's size and its frame rate.
void cut_chain(RunPlan& plan, const std::string& workers_part) {
  const transform::FilterChain::Split rest = transform::FilterChain::split_at_order(
      transform::FilterChain::after_prefix(plan.vf, workers_part));
  plan.vf_workers = workers_part;
  plan.vf_in_order = join_chains(rest.per_frame, rest.in_order);
  plan.vf_graph = rest.own_frames;
  if (plan.vf_graph.empty()) return;
  plan.vf_graph_input = transform::FilterChain::parse(join_chains(workers_part, plan.vf_in_order))
                            .plan({plan.input_info.width, plan.input_info.height})
                            .back();
  const av::FilterGraph probe(plan.vf_graph, plan.vf_graph_input.width, plan.vf_graph_input.height,
                              AV_PIX_FMT_YUV420P, plan.input_info.time_base, {AV_PIX_FMT_YUV420P},
                              1, plan.input_info.frame_rate);
  plan.vf_graph_rate = probe.out_frame_rate();
}

// -o given more than once: each later output planned from its own options, then every chain cut
// again after the part all share, which the workers run once for all (RunPlan::more_outputs).
void plan_more_outputs(RunPlan& plan, const RunOptions& options, const RunPlan& stages,
                       const decode::InputInfo& input) {
  const auto refuse = [](const std::string& why) {
    fail(ExitCode::kUsage, "several outputs: " + why);
  };
  if (options.more_outputs.size() + 1 > static_cast<std::size_t>(shm::kMaxOutputs))
    refuse("at most " + std::to_string(shm::kMaxOutputs) + " in one run");
  std::vector<std::string> chains{plan.vf};
  std::set<std::string> names{plan.encoder.output};
  for (const RunOptions& more : options.more_outputs) {
    RunPlan own = stages;
    own.vf = chain_text(more);
    RunPlan output = make_plan(more, own, input);
    if (!output.stream_copy()) chains.push_back(output.vf);  // a copy filters nothing
    if (!names.insert(output.encoder.output).second)
      refuse("'" + output.encoder.output + "' is given twice");
    plan.more_outputs.push_back(std::move(output));
  }
  const auto check = [&](const RunPlan& p) {
    if (p.null_output || p.encoder.output == "pipe:1")
      refuse("each must be a file or a URL (not null, preview or standard output)");
  };
  check(plan);
  if (plan.stream_copy()) {
    // A first copy changed places with the first encoded output (encoded_output_first): here
    // every output is a copy.
    refuse(
        "-c copy on every output: run each copy on its own (a copy among several remuxes "
        "beside an output that is encoded)");
  }
  const bool read_again =
      !plan.live && options.input != "-" && options.input.rfind("pipe:", 0) != 0;
  for (std::size_t i = 0; i < plan.more_outputs.size(); ++i) {
    RunPlan& output = plan.more_outputs[i];
    check(output);
    if (output.stream_copy()) {
      // Its packets are remuxed from the input file by a process of its own, which opens the
      // input again: a live input or a pipe gives its packets once.
      if (!read_again) {
        refuse(
            "-c copy beside other outputs reads the input again, which a live input or a "
            "pipe cannot give: run the copy on its own");
      }
      output.own_process = true;
      continue;
    }
    // A stream input's audio, read once by decode, goes to every output that takes it: encode
    // reads it for all, and encodes those outputs itself. Every other later output is encoded
    // in a process of its own.
    if (output.copy_audio && output.audio_from_decode) {
      plan.audio_from_decode = true;
      const std::string name = StageId::output_encoder(static_cast<int>(i) + 1).name();
      std::erase_if(plan.cpus.stages, [&](const auto& s) { return s.stage == name; });
    } else {
      output.own_process = true;
    }
  }
  const std::string shared = transform::FilterChain::shared_prefix(chains);
  cut_chain(plan, shared);
  for (RunPlan& output : plan.more_outputs) {
    if (!output.stream_copy()) cut_chain(output, shared);
  }
}

// --master-playlist, or ffmpeg's -master_pl_name given to one of several outputs (beside its
// playlist, as ffmpeg puts it): every output must be an HLS playlist.
void plan_master_playlist(RunPlan& plan, const RunOptions& options) {
  std::string master = options.master_playlist;
  std::vector<RunPlan*> outputs{&plan};
  for (RunPlan& more : plan.more_outputs) outputs.push_back(&more);
  if (outputs.size() > 1) {
    for (RunPlan* p : outputs) {
      auto& muxer = p->encoder.muxer_options;
      const auto named = muxer.find("master_pl_name");
      if (named == muxer.end()) continue;
      if (master.empty()) {
        master = (std::filesystem::path(p->encoder.output).parent_path() / named->second).string();
      }
      muxer.erase(named);  // one master for all, not one per output
    }
  }
  if (master.empty()) return;
  for (const RunPlan* p : outputs) {
    if (!is_hls(*p)) {
      fail(ExitCode::kUsage, "--master-playlist lists HLS playlists: output '" + p->encoder.output +
                                 "' is not one (name it .m3u8)");
    }
  }
  if (const std::string why = cannot_write(master); !why.empty())
    fail(ExitCode::kUsage, "master playlist '" + master + "' cannot be written: " + why);
  plan.master_playlist = master;
}

// The segment's size; it must fit in memory: a huge geometry fails here, with a clear message,
// rather than at mmap time or by exhausting memory.
void size_segment(RunPlan& plan) {
  const shm::SegmentSpec spec = plan.segment_spec();
  plan.segment_bytes = shm::RunSegment::bytes_for(spec);
  if (plan.segment_bytes > kMaxSegmentBytes) {
    fail(ExitCode::kUsage, "frame pool of " + std::to_string(plan.nb_slots) + " slots of " +
                               mib(plan.slot_bytes) + " (largest picture " +
                               geometry_text(*std::max_element(
                                   plan.steps.begin(), plan.steps.end(),
                                   [](auto a, auto b) {
                                     return static_cast<std::uint64_t>(a.width) * a.height <
                                            static_cast<std::uint64_t>(b.width) * b.height;
                                   })) +
                               ") exceeds the " + mib(kMaxSegmentBytes) +
                               " limit: lower --window or the picture size");
  }
}

}  // namespace

PoolSize size_pool(const PoolInputs& in) {
  PoolSize out;
  // Enough frames in flight to keep every worker busy while encode waits for the oldest.
  std::uint32_t window = static_cast<std::uint32_t>(std::clamp(3 * in.nb_workers + 2, 8, 64));
  if (in.live) {
    // Live: room for what arrives within the latency budget (a burst after a stall, the frames
    // that queued while the stages started); frames that wait too long are dropped by deadline.
    const auto budget_frames =
        static_cast<std::uint32_t>(in.latency_budget_ms / 1000 * in.frame_rate + 1);
    window =
        std::clamp<std::uint32_t>(budget_frames, static_cast<std::uint32_t>(in.nb_workers) + 2, 64);
  }
  out.window = in.window > 0 ? static_cast<std::uint32_t>(in.window) : window;
  // Batches share the window between workers: big enough to save wake-ups, small enough that
  // every worker still gets frames.
  out.batch = in.batch > 0 ? static_cast<std::uint32_t>(in.batch)
                           : std::clamp<std::uint32_t>(out.window / (2 * in.nb_workers), 1, 8);
  if (out.batch > out.window) {
    fail(ExitCode::kUsage, "--batch " + std::to_string(out.batch) +
                               " is larger than the window of " + std::to_string(out.window) +
                               " frames in flight");
  }
  // A worker holds a spare slot for each frame of its batch when a filter works out of place.
  out.nb_slots =
      out.window + (in.needs_spare ? static_cast<std::uint32_t>(in.nb_workers) * out.batch : 0);
  // The decoder decodes straight into slots when its pictures are already the working format:
  // no copy. It keeps some of them as references after the pipeline is done with them, so the
  // pool holds that many more: enough for the references and reordering of common streams
  // (x264's presets up to "slow": 5 references and 3 B-frames), and a picture per decoder
  // thread. A stream that keeps more (H.264 allows 16 references) gets the rest copied.
  if (in.decoded_picture_bytes > 0) {
    out.decoder_slots = kDecoderReferenceSlots + static_cast<std::uint32_t>(in.decoder_threads);
    out.nb_slots += out.decoder_slots;
    out.decoded_bytes = in.decoded_picture_bytes;
  }
  return out;
}

MemoryFit fit_pool_to_memory(PoolInputs in, std::uint64_t limit, std::uint64_t process_bytes,
                             const std::function<std::uint64_t(const PoolSize&)>& segment_bytes) {
  MemoryFit fit;
  fit.pool = size_pool(in);
  fit.needed = segment_bytes(fit.pool) + process_bytes;
  if (limit == 0) return fit;
  const std::uint32_t wanted = fit.pool.window;
  const auto floor = static_cast<std::uint32_t>(in.nb_workers) + 2;
  while (fit.needed > limit && in.window == 0 && fit.pool.window > floor &&
         (in.batch == 0 || fit.pool.window > static_cast<std::uint32_t>(in.batch))) {
    PoolInputs smaller = in;
    smaller.window = static_cast<int>(fit.pool.window) - 1;
    fit.pool = size_pool(smaller);
    fit.needed = segment_bytes(fit.pool) + process_bytes;
  }
  const std::uint64_t pool_bytes = fit.needed - process_bytes;
  if (fit.needed > limit) {
    fail(ExitCode::kUsage,
         "the run needs about " + mib(fit.needed) + " (a frame pool of " + mib(pool_bytes) +
             " for " + std::to_string(fit.pool.nb_slots) + " slots, and about " +
             mib(process_bytes) + " for its " + std::to_string(in.nb_workers + 2) +
             " processes), more than the " + mib(limit) +
             " its cgroup allows: raise the limit, or lower --workers, --window or "
             "the picture size");
  }
  fit.note = "about " + mib(fit.needed) + " of the cgroup's " + mib(limit) + " memory limit" +
             (fit.pool.window < wanted ? "; window lowered from " + std::to_string(wanted) +
                                             " to " + std::to_string(fit.pool.window) + " to fit"
                                       : "");
  return fit;
}

namespace {

// The threads of the decoder and of each worker's libavfilter graph: their shares of the job's
// work on the CPUs they may use (see plan/thread_budget.hpp), estimated from the decoder, every
// filter and every output's encoder at the sizes they work on; --decoder-threads sets the
// decoder's.
void plan_threads(RunPlan& plan, const RunOptions& options) {
  const auto megapixels = [](transform::Geometry g) { return g.width * g.height / 1e6; };
  const double decode_ms = decode_ms_per_megapixel(plan.input_info.codec) *
                           megapixels({plan.input_info.width, plan.input_info.height});
  const std::size_t nb_worker_filters = transform::FilterChain::entries(plan.vf_workers).size();
  double filter_ms = 0;  // the workers' part of the chain
  double rest_ms = 0;    // filters in order, each output's own and the encoders
  for (std::size_t i = 0; i < plan.nb_outputs(); ++i) {
    const RunPlan& p = plan.output(i);
    if (p.stream_copy()) continue;  // it reads the input itself
    const auto entries = transform::FilterChain::entries(p.vf);
    for (std::size_t f = 0; f < entries.size(); ++f) {
      const double ms = filter_ms_per_megapixel(entries[f]) *
                        megapixels(p.steps.at(std::min(f + 1, p.steps.size() - 1)));
      // Every output's chain starts with the workers' part (see plan_more_outputs).
      if (f >= nb_worker_filters) {
        rest_ms += ms;
      } else if (i == 0) {
        filter_ms += ms;
      }
    }
    if (!p.null_output) {
      rest_ms += encode_ms_per_megapixel(p.encoder.codec, p.encoder.preset) *
                 megapixels(p.output_geometry());
    }
  }
  const double total_ms = decode_ms + filter_ms + rest_ms;
  const int decode_cpus = static_cast<int>(plan.cpus_of("decode").size());
  const int worker_cpus = static_cast<int>(plan.cpus_of("xform-0").size());
  plan.worker_threads = worker_threads(filter_ms, total_ms, plan.nb_workers, worker_cpus);
  const std::string estimate = fmt::format(
      "estimated per frame on one core: decoding {:.1f} ms, filtering {:.1f}, the rest "
      "{:.1f}",
      decode_ms, filter_ms, rest_ms);
  if (options.decoder_threads > 0) {
    plan.decoder_threads = options.decoder_threads;
    plan.decoder_note = "--decoder-threads";
  } else if (decode_cpus > 0) {
    plan.decoder_threads = decoder_threads(decode_ms, total_ms - decode_ms, decode_cpus);
    plan.decoder_note = fmt::format(
        "its share of the job's work on the {} CPUs decode may use ({})", decode_cpus, estimate);
  } else {
    plan.decoder_threads = 0;
    plan.decoder_note = "libavcodec's choice: decode is not pinned";
  }
}

// The pool of frame slots (window, batch, slots and their size) that fits the memory the run may
// use, beside its processes and every output's encoder.
void plan_pool(RunPlan& plan, const RunOptions& options, const transform::FilterChain& chain) {
  const PoolInputs pool_inputs{
      plan.nb_workers,
      plan.live,
      plan.latency_budget_ms,
      av_q2d(plan.input_info.frame_rate),
      options.window,
      options.batch,
      plan.needs_spare,
      plan.input_info.pix_fmt == "yuv420p"
          ? decode::decoded_picture_bytes(plan.input_info.codec, plan.input_info.width,
                                          plan.input_info.height)
          : 0,
      std::max(1, plan.decoder_threads)};
  const auto use_pool = [&](const PoolSize& pool) {
    plan.window = pool.window;
    plan.batch = pool.batch;
    plan.nb_slots = pool.nb_slots;
    plan.decoder_slots = pool.decoder_slots;
    plan.slot_bytes = std::max(chain.max_picture_bytes(plan.steps.front()), pool.decoded_bytes);
    return shm::RunSegment::bytes_for(plan.segment_spec());
  };
  // Each process's own memory besides the pool (libraries, codec state: 40-70 MiB measured at
  // 1080p), and each output's encoder's frames (lookahead, references) at its size.
  std::uint64_t process_bytes =
      kProcessBytes * static_cast<std::uint64_t>(plan.nb_workers + 2 + plan.nb_output_processes());
  std::vector<const RunPlan*> outputs{&plan};
  for (const RunPlan& more : plan.more_outputs) outputs.push_back(&more);
  for (const RunPlan* output : outputs) {
    const transform::Geometry out = output->output_geometry();
    if (!output->null_output && !output->stream_copy()) {
      process_bytes += kEncoderFrames * static_cast<std::uint64_t>(out.width) *
                       static_cast<std::uint64_t>(out.height) * 3 / 2;
    }
  }
  const MemoryFit fit =
      fit_pool_to_memory(pool_inputs, plan.memory_limit_bytes, process_bytes, use_pool);
  use_pool(fit.pool);
  plan.memory_note = fit.note;
}

}  // namespace

RunPlan make_plan(const RunOptions& options, RunPlan stages, const decode::InputInfo& input) {
  const RunPlan stages_for_outputs = options.more_outputs.empty() ? RunPlan() : stages;
  RunPlan plan = std::move(stages);
  // A rotated input (a phone clip) is turned upright first where the output cannot say how to
  // show it (Matroska, TS, WebM, -map_metadata -1), and before any filter, so that sizes follow
  // the picture as it is seen (resize=640x-1 is 640 wide on screen), as the ffmpeg CLI's
  // autorotate.
  // A stream copy keeps the packets, and with them the rotation side data.
  plan.autorotate_degrees = options.codec == "copy" ? 0 : autorotation(input, options);
  if (plan.autorotate_degrees != 0) {
    plan.vf = "cv.rotate=" + std::to_string(plan.autorotate_degrees) +
              (plan.vf.empty() ? "" : "," + plan.vf);
  }
  const transform::FilterChain chain = transform::FilterChain::parse(plan.vf);
  const transform::FilterChain::Split split = transform::FilterChain::split_at_order(plan.vf);
  plan.input_info = input;
  plan.steps = chain.plan({plan.input_info.width, plan.input_info.height});
  plan.needs_spare = chain.needs_spare();
  plan.realtime = options.realtime;
  plan.live = options.live == "on" || options.realtime ||
              (options.live == "auto" && decode::is_live_source(plan.input_info));
  if (plan.live && !split.waits_for_end.empty()) {
    fail(ExitCode::kUsage, "filter " + split.waits_for_end +
                               ", and a live input has no end: record it first, then filter "
                               "the recording");
  }
  // Several workers run the per-frame head and the encode stage the rest; one worker runs all
  // but the filters that give frames of their own.
  cut_chain(plan, plan.nb_workers > 1 && !split.per_frame.empty() && !split.in_order.empty()
                      ? split.per_frame
                      : join_chains(split.per_frame, split.in_order));
  plan.latency_budget_ms = options.latency_budget_ms;
  plan.start_s = options.start_s.value_or(0);
  if (options.rate) plan.output_rate = *options.rate;
  if (!options.aspect.empty()) plan.display_aspect = parse_aspect(options.aspect);
  plan.duration_s = options.end_s ? *options.end_s - plan.start_s : options.duration_s.value_or(0);
  plan.pts_range = options.pts_range;
  if (plan.start_s > 0 && plan.live)
    fail(ExitCode::kUsage, "-ss cannot seek a live input; use -t to limit it instead");
  if (plan.start_s > 0 && input.duration_s > 0 && plan.start_s >= input.duration_s) {
    fail(ExitCode::kUsage, fmt::format("-ss {:g} is past the input's end (it is {:.3g} s long)",
                                       plan.start_s, input.duration_s));
  }
  plan.drop_oldest = options.drop == "oldest";

  plan_output(plan, options);
  // One picture file takes the first frame, as ffmpeg's -frames:v 1.
  plan.max_frames =
      options.frames.value_or(!plan.null_output && encode::is_single_image(plan.encoder) ? 1 : 0);
  plan.encoder.threads = static_cast<int>(plan.cpus_of("encode").size());
  if (!options.more_outputs.empty()) plan_more_outputs(plan, options, stages_for_outputs, input);
  plan_threads(plan, options);
  plan_pool(plan, options, chain);
  plan_master_playlist(plan, options);
  size_segment(plan);  // after the outputs: their plans travel in the segment too
  return plan;
}

}  // namespace vpipe::plan
