#include "scheduler/run_plan.hpp"

#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/display.h>
}

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "common/error.hpp"
#include "encode/preview_sink.hpp"
#include "shm_ring/run_segment.hpp"
#include "transform/filter_chain.hpp"

namespace vpipe::scheduler {
namespace {

using nlohmann::json;

// The pool's total size is capped so that a huge geometry fails at planning with a clear
// message instead of at mmap time (or by exhausting memory).
constexpr std::uint64_t kMaxSegmentBytes = 8ULL << 30;
// Slots the decoder may keep as references and for reordering, beyond one per decoder thread
// (see make_plan).
constexpr std::uint32_t kDecoderReferenceSlots = 8;

std::string geometry_text(transform::Geometry g) {
  return std::to_string(g.width) + "x" + std::to_string(g.height);
}

std::string mib(std::uint64_t bytes) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return s.str();
}

json rational(AVRational r) {
  return json::array({r.num, r.den});
}
AVRational rational(const json& j) {
  return AVRational{j.at(0).get<int>(), j.at(1).get<int>()};
}

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

const std::vector<int>& RunPlan::cpus_of(const std::string& stage) const {
  static const std::vector<int> kAny;
  for (const auto& s : cpus.stages) {
    if (s.stage == stage) return s.cpus;
  }
  return kAny;
}

RunPlan plan_stages(const RunOptions& options, const affinity::Topology& topology) {
  validate(options);
  RunPlan plan;
  plan.input = options.input;
  plan.quiet = options.quiet;
  plan.max_restarts = options.max_restarts;
  plan.log_level = options.log_level;
  plan.log_file = options.log_file;
  plan.input_format = options.input_format;
  plan.maps = options.maps;
  plan.input_options = options.input_options;
  plan.input_timeout_s = options.input_timeout_s;
  // The chain is checked before the input is opened: a typo fails fast even on a slow URL.
  const transform::FilterChain chain = transform::FilterChain::parse(options.vf);
  plan.vf = options.vf;
  plan.nb_workers =
      options.workers > 0 ? options.workers : affinity::default_workers(topology, !chain.empty());
  if (chain.sequential() && plan.nb_workers > 1) {
    if (options.workers > 1) {
      spdlog::warn("the chain has a filter that must see frames in order: using 1 worker, not {}",
                   options.workers);
    }
    plan.nb_workers = 1;
  }
  if (options.affinity == "auto" || options.affinity == "none") {
    plan.cpus = affinity::plan_cpus(
        topology, plan.nb_workers,
        options.affinity == "none" ? affinity::AffinityMode::kNone : affinity::AffinityMode::kAuto);
  } else {
    plan.cpus = affinity::plan_explicit(topology, plan.nb_workers, options.affinity);
  }
  return plan;
}

encode::StreamParams RunPlan::stream_params() const {
  const auto& in = input_info;
  // After an autorotation, the picture the filters start from is the turned one, and its
  // pixels' aspect ratio turns with it.
  const bool turned = autorotate_degrees % 180 == 90;
  const transform::Geometry first = steps.at(autorotate_degrees != 0 ? 1 : 0), last = steps.back();
  encode::StreamParams p{last.width, last.height, in.time_base, in.frame_rate};
  if (output_rate.num > 0) {
    // -r: encode numbers frames in 1/rate.
    p.time_base = av_inv_q(output_rate);
    p.frame_rate = output_rate;
  }
  if (in.sample_aspect_ratio.num > 0 && in.sample_aspect_ratio.den > 0) {
    const AVRational sar = turned ? av_inv_q(in.sample_aspect_ratio) : in.sample_aspect_ratio;
    // The display shape is kept: a resize to another shape changes the pixels' aspect (as
    // ffmpeg's scale filter does).
    p.sample_aspect_ratio =
        first == last
            ? sar
            : av_mul_q(sar, AVRational{last.height * first.width, last.width * first.height});
    av_reduce(&p.sample_aspect_ratio.num, &p.sample_aspect_ratio.den, p.sample_aspect_ratio.num,
              p.sample_aspect_ratio.den, 1 << 30);
  }
  if (!in.rgb) {
    // Decode converts a full-range yuvj format into limited-range yuv420p; RGB inputs have no
    // YUV tags worth keeping (the conversion uses swscale's default matrix, BT.601).
    p.color_range = in.pix_fmt.rfind("yuvj", 0) == 0 ? AVCOL_RANGE_MPEG : in.color_range;
    p.color_primaries = in.color_primaries;
    p.color_trc = in.color_trc;
    p.colorspace = in.colorspace;
  }
  if (keep_metadata && autorotate_degrees == 0) p.display_matrix = in.display_matrix;
  if (keep_metadata) {
    p.metadata = in.metadata;
  }
  return p;
}

decode::OpenSettings RunPlan::open_settings() const {
  return {static_cast<int>(cpus_of("decode").size()), input_format, input_timeout_s, maps,
          input_options};
}

RunPlan make_plan(const RunOptions& options, const affinity::Topology& topology) {
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

RunPlan make_plan(const RunOptions& options, RunPlan stages, const decode::InputInfo& input) {
  RunPlan plan = std::move(stages);
  // A rotated input (a phone clip) is turned upright first where the output cannot say how to
  // show it (Matroska, TS, WebM, -map_metadata -1), and before any filter, so that sizes follow
  // the picture as it is seen (resize=640x-1 is 640 wide on screen), as the ffmpeg CLI's
  // autorotate.
  plan.autorotate_degrees = autorotation(input, options);
  if (plan.autorotate_degrees != 0) {
    plan.vf = "rotate=" + std::to_string(plan.autorotate_degrees) +
              (options.vf.empty() ? "" : "," + options.vf);
  }
  const transform::FilterChain chain = transform::FilterChain::parse(plan.vf);
  plan.input_info = input;
  plan.steps = chain.plan({plan.input_info.width, plan.input_info.height});
  plan.needs_spare = chain.needs_spare();
  plan.realtime = options.realtime;
  plan.live = options.live == "on" || options.realtime ||
              (options.live == "auto" && decode::is_live_source(plan.input_info));
  plan.latency_budget_ms = options.latency_budget_ms;
  plan.start_s = options.start_s.value_or(0);
  if (options.rate) plan.output_rate = *options.rate;
  plan.duration_s = options.duration_s.value_or(0);
  plan.pts_range = options.pts_range;
  if (plan.start_s > 0 && plan.live)
    fail(ExitCode::kUsage, "-ss cannot seek a live input; use -t to limit it instead");
  if (plan.start_s > 0 && input.duration_s > 0 && plan.start_s >= input.duration_s) {
    fail(ExitCode::kUsage, fmt::format("-ss {:g} is past the input's end (it is {:.3g} s long)",
                                       plan.start_s, input.duration_s));
  }
  plan.drop_oldest = options.drop == "oldest";

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
  plan.encoder.format = options.format.empty() ? stream_format_for(options.output) : options.format;
  plan.encoder.codec = !options.codec.empty() ? options.codec
                       : plan.null_output     ? "libx264"
                                              : encode::default_video_encoder(plan.encoder);
  plan.encoder.preset = options.preset;
  plan.encoder.crf = options.crf;
  plan.encoder.bitrate = options.bitrate;
  plan.encoder.gop = options.gop;
  plan.encoder.codec_options = options.codec_options;
  plan.encoder.overwrite = options.overwrite;
  plan.encoder.faststart = options.faststart;
  plan.encoder.pix_fmt = options.pix_fmt;
  if (!plan.encoder.crf && !plan.encoder.bitrate) {
    // Constant quality where the codec's own default is a low fixed bitrate (MJPEG: 200 kb/s)
    // or a guess it warns about (VP9, AV1: CRF 32).
    const std::string& codec = plan.encoder.codec;
    if (codec == "libvpx-vp9" || codec == "libaom-av1") plan.encoder.crf = 32;
    if (codec == "mjpeg") plan.encoder.crf = 3;
  }
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
  if (!plan.null_output) encode::validate(plan.encoder);
  plan_audio(plan, options);
  if (plan.input_info.subtitle_streams > 0 && !plan.null_output) {
    plan.subtitle_note = std::to_string(plan.input_info.subtitle_streams) +
                         " subtitle stream(s) in the input are not carried to the output";
    spdlog::warn("subtitles: {}", plan.subtitle_note);
  }

  plan.encoder.threads = static_cast<int>(plan.cpus_of("encode").size());

  // Enough frames in flight to keep every worker busy while encode waits for the oldest.
  std::uint32_t window = static_cast<std::uint32_t>(std::clamp(3 * plan.nb_workers + 2, 8, 64));
  if (plan.live) {
    // Live: room for what arrives within the latency budget (a burst after a stall, the frames
    // that queued while the stages started); frames that wait too long are dropped by deadline.
    const auto budget_frames = static_cast<std::uint32_t>(
        plan.latency_budget_ms / 1000 * av_q2d(plan.input_info.frame_rate) + 1);
    window = std::clamp<std::uint32_t>(budget_frames,
                                       static_cast<std::uint32_t>(plan.nb_workers) + 2, 64);
  }
  plan.window = options.window > 0 ? static_cast<std::uint32_t>(options.window) : window;
  // Batches share the window between workers: big enough to save wake-ups, small enough that
  // every worker still gets frames.
  plan.batch = options.batch > 0
                   ? static_cast<std::uint32_t>(options.batch)
                   : std::clamp<std::uint32_t>(plan.window / (2 * plan.nb_workers), 1, 8);
  if (plan.batch > plan.window) {
    fail(ExitCode::kUsage, "--batch " + std::to_string(plan.batch) +
                               " is larger than the window of " + std::to_string(plan.window) +
                               " frames in flight");
  }
  // A worker holds a spare slot for each frame of its batch when a filter works out of place.
  plan.nb_slots = plan.window +
                  (plan.needs_spare ? static_cast<std::uint32_t>(plan.nb_workers) * plan.batch : 0);
  plan.slot_bytes = chain.max_picture_bytes(plan.steps.front());
  // The decoder decodes straight into slots when its pictures are already the working format:
  // no copy. It keeps some of them as references after the pipeline is done with them, so the
  // pool holds that many more: enough for the references and reordering of common streams
  // (x264's presets up to "slow": 5 references and 3 B-frames), and a picture per decoder
  // thread. A stream that keeps more (H.264 allows 16 references) gets the rest copied.
  if (const std::uint64_t direct =
          plan.input_info.pix_fmt == "yuv420p"
              ? decode::decoded_picture_bytes(plan.input_info.codec, plan.input_info.width,
                                              plan.input_info.height)
              : 0;
      direct > 0) {
    plan.decoder_slots =
        kDecoderReferenceSlots + static_cast<std::uint32_t>(plan.cpus_of("decode").size());
    plan.nb_slots += plan.decoder_slots;
    plan.slot_bytes = std::max(plan.slot_bytes, direct);
  }
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
  return plan;
}

namespace {

json audio_params_to_json(const decode::AudioParams& a) {
  static const char* kHex = "0123456789abcdef";
  std::string extradata;
  for (const unsigned char c : a.extradata) {
    extradata += kHex[c >> 4];
    extradata += kHex[c & 15];
  }
  return json{{"codec_id", a.codec_id},
              {"format", a.format},
              {"bit_rate", a.bit_rate},
              {"sample_rate", a.sample_rate},
              {"channels", a.channels},
              {"channel_mask", a.channel_mask},
              {"frame_size", a.frame_size},
              {"block_align", a.block_align},
              {"initial_padding", a.initial_padding},
              {"profile", a.profile},
              {"extradata", extradata},
              {"time_base", rational(a.time_base)}};
}

decode::AudioParams audio_params_from_json(const json& j) {
  decode::AudioParams a;
  a.codec_id = j.at("codec_id");
  a.format = j.at("format");
  a.bit_rate = j.at("bit_rate");
  a.sample_rate = j.at("sample_rate");
  a.channels = j.at("channels");
  a.channel_mask = j.at("channel_mask");
  a.frame_size = j.at("frame_size");
  a.block_align = j.at("block_align");
  a.initial_padding = j.at("initial_padding");
  a.profile = j.at("profile");
  const std::string hex = j.at("extradata");
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    a.extradata += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  a.time_base = rational(j.at("time_base"));
  return a;
}

}  // namespace

std::string input_info_to_json(const decode::InputInfo& in) {
  return json{{"url", in.url},
              {"format", in.format},
              {"container", in.container},
              {"codec", in.codec},
              {"pix_fmt", in.pix_fmt},
              {"stream_index", in.stream_index},
              {"audio_stream_index", in.audio_stream_index},
              {"audio_codec", in.audio_codec},
              {"audio", audio_params_to_json(in.audio)},
              {"width", in.width},
              {"height", in.height},
              {"time_base", rational(in.time_base)},
              {"frame_rate", rational(in.frame_rate)},
              {"duration_s", in.duration_s},
              {"nb_frames", in.nb_frames},
              {"bit_depth", in.bit_depth},
              {"rgb", in.rgb},
              {"sample_aspect_ratio", rational(in.sample_aspect_ratio)},
              {"color", {in.color_range, in.color_primaries, in.color_trc, in.colorspace}},
              {"display_matrix", in.display_matrix},
              {"start_time_s", in.start_time_s},
              {"timeline_start_s", in.timeline_start_s},
              {"subtitle_streams", in.subtitle_streams},
              {"seekable", in.seekable},
              {"metadata", in.metadata}}
      .dump();
}

decode::InputInfo input_info_from_json(std::string_view text) {
  const json in = json::parse(text);
  decode::InputInfo info;
  info.url = in.at("url");
  info.format = in.at("format");
  info.container = in.at("container");
  info.codec = in.at("codec");
  info.pix_fmt = in.at("pix_fmt");
  info.stream_index = in.at("stream_index");
  info.audio_stream_index = in.at("audio_stream_index");
  info.audio_codec = in.at("audio_codec");
  info.audio = audio_params_from_json(in.at("audio"));
  info.width = in.at("width");
  info.height = in.at("height");
  info.time_base = rational(in.at("time_base"));
  info.frame_rate = rational(in.at("frame_rate"));
  info.duration_s = in.at("duration_s");
  info.nb_frames = in.at("nb_frames");
  info.bit_depth = in.at("bit_depth");
  info.rgb = in.at("rgb");
  info.sample_aspect_ratio = rational(in.at("sample_aspect_ratio"));
  const json& color = in.at("color");
  info.color_range = color.at(0);
  info.color_primaries = color.at(1);
  info.color_trc = color.at(2);
  info.colorspace = color.at(3);
  info.display_matrix = in.at("display_matrix").get<std::vector<std::int32_t>>();
  info.start_time_s = in.at("start_time_s");
  info.timeline_start_s = in.at("timeline_start_s");
  info.subtitle_streams = in.at("subtitle_streams");
  info.seekable = in.at("seekable");
  info.metadata = in.at("metadata").get<std::map<std::string, std::string>>();
  return info;
}

// Room for about 30 s of a live input's audio at 1 Mb/s: encode takes it as the video goes on,
// so it holds only the packets read ahead of the video.
constexpr std::uint64_t kAudioRingBytes = 4ULL << 20;

shm::SegmentSpec RunPlan::segment_spec() const {
  return {nb_slots,       slot_bytes,
          window,         static_cast<std::uint32_t>(nb_workers),
          to_json(*this), audio_from_decode ? kAudioRingBytes : 0};
}

std::string to_json(const RunPlan& p) {
  json stages = json::array();
  for (const auto& s : p.cpus.stages) stages.push_back({{"stage", s.stage}, {"cpus", s.cpus}});
  json steps = json::array();
  for (const auto& g : p.steps) steps.push_back({g.width, g.height});
  const auto& e = p.encoder;
  json enc = {{"output", e.output},
              {"format", e.format},
              {"codec", e.codec},
              {"preset", e.preset},
              {"codec_options", e.codec_options},
              {"overwrite", e.overwrite},
              {"threads", e.threads},
              {"faststart", e.faststart},
              {"pix_fmt", e.pix_fmt}};
  if (e.crf) enc["crf"] = *e.crf;
  if (e.bitrate) enc["bitrate"] = *e.bitrate;
  if (e.gop) enc["gop"] = *e.gop;
  return json{
      {"input", p.input},
      {"input_info", json::parse(input_info_to_json(p.input_info))},
      {"vf", p.vf},
      {"steps", steps},
      {"needs_spare", p.needs_spare},
      {"decoder_slots", p.decoder_slots},
      {"audio_from_decode", p.audio_from_decode},
      {"null_output", p.null_output},
      {"preview", p.preview},
      {"copy_audio", p.copy_audio},
      {"audio_encoder", p.audio_encoder},
      {"audio_bitrate", p.audio_bitrate},
      {"keep_metadata", p.keep_metadata},
      {"autorotate_degrees", p.autorotate_degrees},
      {"start_s", p.start_s},
      {"output_rate", rational(p.output_rate)},
      {"duration_s", p.duration_s},
      {"pts_range", p.pts_range ? json{p.pts_range->seek, p.pts_range->preroll, p.pts_range->begin,
                                       p.pts_range->end, p.pts_range->origin, p.pts_range->seq_base}
                                : json()},
      {"audio_note", p.audio_note},
      {"encoder", enc},
      {"nb_workers", p.nb_workers},
      {"window", p.window},
      {"batch", p.batch},
      {"max_restarts", p.max_restarts},
      {"nb_slots", p.nb_slots},
      {"slot_bytes", p.slot_bytes},
      {"segment_bytes", p.segment_bytes},
      {"cpus", {{"stages", stages}, {"shared", p.cpus.shared}, {"note", p.cpus.note}}},
      {"live",
       {{"live", p.live},
        {"realtime", p.realtime},
        {"latency_budget_ms", p.latency_budget_ms},
        {"drop_oldest", p.drop_oldest},
        {"encoder_note", p.live_encoder_note}}},
      {"input_format", p.input_format},
      {"input_timeout_s", p.input_timeout_s},
      {"maps", p.maps},
      {"input_options", p.input_options},
      {"quiet", p.quiet},
      {"log_level", p.log_level},
      {"log_file", p.log_file}}
      .dump();
}

RunPlan plan_from_json(std::string_view text) {
  const json j = json::parse(text);
  RunPlan p;
  p.input = j.at("input");
  p.input_info = input_info_from_json(j.at("input_info").dump());
  p.vf = j.at("vf");
  for (const auto& g : j.at("steps")) p.steps.push_back({g.at(0).get<int>(), g.at(1).get<int>()});
  p.needs_spare = j.at("needs_spare");
  p.decoder_slots = j.at("decoder_slots");
  p.audio_from_decode = j.at("audio_from_decode");
  p.null_output = j.at("null_output");
  p.preview = j.at("preview");
  p.copy_audio = j.at("copy_audio");
  p.audio_encoder = j.at("audio_encoder");
  p.audio_bitrate = j.at("audio_bitrate");
  p.keep_metadata = j.at("keep_metadata");
  p.autorotate_degrees = j.at("autorotate_degrees");
  p.start_s = j.at("start_s");
  p.output_rate = rational(j.at("output_rate"));
  p.duration_s = j.at("duration_s");
  if (const json& r = j.at("pts_range"); !r.is_null())
    p.pts_range = PtsRange{r.at(0), r.at(1), r.at(2), r.at(3), r.at(4), r.at(5)};
  p.audio_note = j.at("audio_note");
  const json& e = j.at("encoder");
  p.encoder.output = e.at("output");
  p.encoder.format = e.at("format");
  p.encoder.codec = e.at("codec");
  p.encoder.preset = e.at("preset");
  p.encoder.codec_options = e.at("codec_options").get<std::map<std::string, std::string>>();
  p.encoder.overwrite = e.at("overwrite");
  p.encoder.faststart = e.at("faststart");
  p.encoder.pix_fmt = e.at("pix_fmt");
  p.encoder.threads = e.at("threads");
  if (e.contains("crf")) p.encoder.crf = e.at("crf").get<int>();
  if (e.contains("bitrate")) p.encoder.bitrate = e.at("bitrate").get<std::int64_t>();
  if (e.contains("gop")) p.encoder.gop = e.at("gop").get<int>();
  p.nb_workers = j.at("nb_workers");
  p.window = j.at("window");
  p.batch = j.at("batch");
  p.max_restarts = j.at("max_restarts");
  p.nb_slots = j.at("nb_slots");
  p.slot_bytes = j.at("slot_bytes");
  p.segment_bytes = j.at("segment_bytes");
  for (const auto& s : j.at("cpus").at("stages")) {
    p.cpus.stages.push_back({s.at("stage"), s.at("cpus").get<std::vector<int>>()});
  }
  p.cpus.shared = j.at("cpus").at("shared");
  p.cpus.note = j.at("cpus").at("note");
  const json& live = j.at("live");
  p.live = live.at("live");
  p.realtime = live.at("realtime");
  p.latency_budget_ms = live.at("latency_budget_ms");
  p.drop_oldest = live.at("drop_oldest");
  p.live_encoder_note = live.at("encoder_note");
  p.input_format = j.at("input_format");
  p.input_timeout_s = j.at("input_timeout_s");
  p.maps = j.at("maps").get<std::vector<std::string>>();
  p.input_options = j.at("input_options").get<std::map<std::string, std::string>>();
  p.quiet = j.at("quiet");
  p.log_level = j.at("log_level");
  p.log_file = j.at("log_file");
  return p;
}

std::string describe(const RunPlan& p) {
  std::ostringstream s;
  const auto& in = p.input_info;
  s << "input:    " << p.input << "\n"
    << "          " << in.container << ", " << in.codec << " " << in.pix_fmt << " " << in.width
    << "x" << in.height << " @ " << av_q2d(in.frame_rate) << " fps";
  if (in.duration_s > 0) s << ", " << in.duration_s << " s (~" << in.nb_frames << " frames)";
  s << "\n";
  if (p.decoder_slots > 0) {
    s << "convert:  none: the decoder writes its yuv420p pictures straight into pool slots\n";
  } else if (in.pix_fmt == "yuv420p") {
    s << "convert:  none: the decoder's yuv420p planes are copied once into pool slots\n";
  } else {
    s << "convert:  decode converts " << in.pix_fmt
      << " -> yuv420p (the working format) into pool slots, once"
      << (in.bit_depth > 8
              ? " (" + std::to_string(in.bit_depth) + "-bit input: the output is 8-bit)"
              : "")
      << "\n";
  }
  s << "          filters work on yuv420p planes; encode reads the slots in place";
  s << (p.null_output ? "\n" : " (a codec that cannot take yuv420p converts once more)\n");
  if (p.start_s > 0 || p.duration_s > 0) {
    s << "range:    ";
    if (p.start_s > 0)
      s << "from " << p.start_s << " s (" << (in.seekable ? "seek, then decode" : "decode")
        << " up to it; the output starts at 0)";
    if (p.start_s > 0 && p.duration_s > 0) s << ", ";
    if (p.duration_s > 0) s << p.duration_s << " s long (-t)";
    s << "\n";
  }
  s << "filters:  " << (p.vf.empty() ? "(none)" : transform::FilterChain::parse(p.vf).describe())
    << "\n";
  if (p.autorotate_degrees != 0) {
    s << "          (rotate=" << p.autorotate_degrees
      << " first: the input is shown rotated, and the output is filtered or cannot say so)\n";
  }
  s << "geometry: ";
  for (std::size_t i = 0; i < p.steps.size(); ++i)
    s << (i ? " -> " : "") << geometry_text(p.steps[i]);
  s << "\n";
  if (p.preview) {
    s << "preview:  a window (OpenCV highgui) with fps, latency and drops, at most 60 frames a "
         "second; closing it or pressing q finishes the run as Ctrl-C does\n";
  }
  if (p.null_output) {
    s << "output:   " << (p.preview ? "the preview only" : "null")
      << " (frames are decoded and filtered, then discarded)\n";
  } else {
    s << "output:   " << p.encoder.output << " (" << p.encoder.codec;
    if (!p.encoder.preset.empty()) s << " preset " << p.encoder.preset;
    if (p.encoder.crf) s << " crf " << *p.encoder.crf;
    if (p.encoder.bitrate) s << " " << *p.encoder.bitrate / 1000 << " kb/s";
    if (p.encoder.gop) s << " gop " << *p.encoder.gop;
    s << ", " << p.encoder.threads << " threads";
    if (p.output_rate.num > 0)
      s << ", -r " << av_q2d(p.output_rate) << " fps: frames dropped or repeated by timestamp";
    s << ")\n";
  }
  s << "audio:    " << p.audio_note << "\n";
  if (!p.subtitle_note.empty()) s << "subs:     " << p.subtitle_note << "\n";
  if (p.live) {
    s << "live:     " << (p.realtime ? "input paced at its native rate (--realtime); " : "")
      << "deadline = capture + " << p.latency_budget_ms
      << " ms: a stage drops a frame it cannot finish in time\n"
      << "          pipeline full: the " << (p.drop_oldest ? "oldest queued" : "newest")
      << " frame is dropped, the source is never stalled; batches adapt to the deadline\n";
    if (!p.null_output) s << "          encoder: " << p.live_encoder_note << "\n";
  } else {
    s << "mode:     offline: every frame is kept (backpressure, no deadlines)\n";
  }
  s << "stages:   " << p.cpus.note << "\n";
  for (const auto& st : p.cpus.stages) {
    s << "          vpipe:" << st.stage
      << std::string(10 - std::min<std::size_t>(10, st.stage.size()), ' ') << "cpus "
      << affinity::format_cpus(st.cpus) << "\n";
  }
  s << "pool:     " << p.nb_slots << " slots x " << mib(p.slot_bytes) << " (window " << p.window
    << " frames in flight"
    << (p.needs_spare ? ", + a spare per batched frame per worker for out-of-place filters" : "")
    << (p.decoder_slots > 0
            ? ", + " + std::to_string(p.decoder_slots) + " kept by the decoder as references"
            : "")
    << "), segment " << mib(p.segment_bytes) << " (memfd)\n";
  s << "rings:    decode -> transform x" << p.nb_workers << " (batches of up to " << p.batch
    << ") -> encode, slot indices only\n";
  return s.str();
}

}  // namespace vpipe::scheduler
