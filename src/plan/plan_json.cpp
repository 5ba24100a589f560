// The plan's JSON form: how the supervisor hands the plan to every stage (in the run segment),
// and how decode describes the input in its open handshake.
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/error.hpp"
#include "plan/run_plan.hpp"

namespace vpipe::plan {
namespace {

using nlohmann::json;

json rational(AVRational r) {
  return json::array({r.num, r.den});
}
AVRational rational(const json& j) {
  return AVRational{j.at(0).get<int>(), j.at(1).get<int>()};
}

}  // namespace

namespace {

json audio_params_to_json(const av::AudioParams& a) {
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

av::AudioParams audio_params_from_json(const json& j) {
  av::AudioParams a;
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

namespace {

json encoder_to_json(const encode::EncoderSettings& e) {
  json enc = {{"output", e.output},
              {"format", e.format},
              {"codec", e.codec},
              {"preset", e.preset},
              {"codec_options", e.codec_options},
              {"muxer_options", e.muxer_options},
              {"tags", e.tags},
              {"overwrite", e.overwrite},
              {"threads", e.threads},
              {"faststart", e.faststart},
              {"pix_fmt", e.pix_fmt}};
  if (e.crf) enc["crf"] = *e.crf;
  if (e.bitrate) enc["bitrate"] = *e.bitrate;
  if (e.gop) enc["gop"] = *e.gop;
  return enc;
}

}  // namespace

std::string to_json(const RunPlan& p) {
  json stages = json::array();
  for (const auto& s : p.cpus.stages) stages.push_back({{"stage", s.stage}, {"cpus", s.cpus}});
  json steps = json::array();
  for (const auto& g : p.steps) steps.push_back({g.width, g.height});
  json more = json::array();
  for (const RunPlan& output : p.more_outputs) more.push_back(json::parse(to_json(output)));
  return json{
      {"input", p.input},
      {"input_info", json::parse(input_info_to_json(p.input_info))},
      {"vf", p.vf},
      {"steps", steps},
      {"needs_spare", p.needs_spare},
      {"decoder_slots", p.decoder_slots},
      {"audio_from_decode", p.audio_from_decode},
      {"own_process", p.own_process},
      {"null_output", p.null_output},
      {"preview", p.preview},
      {"copy_audio", p.copy_audio},
      {"audio_encoder", p.audio_encoder},
      {"audio_bitrate", p.audio_bitrate},
      {"keep_metadata", p.keep_metadata},
      {"autorotate_degrees", p.autorotate_degrees},
      {"start_s", p.start_s},
      {"output_rate", rational(p.output_rate)},
      {"display_aspect", rational(p.display_aspect)},
      {"duration_s", p.duration_s},
      {"vf_workers", p.vf_workers},
      {"vf_in_order", p.vf_in_order},
      {"vf_graph", p.vf_graph},
      {"vf_graph_input", {p.vf_graph_input.width, p.vf_graph_input.height}},
      {"vf_graph_rate", rational(p.vf_graph_rate)},
      {"more_outputs", more},
      {"master_playlist", p.master_playlist},
      {"max_frames", p.max_frames},
      {"pts_range", p.pts_range ? json{p.pts_range->seek, p.pts_range->preroll, p.pts_range->begin,
                                       p.pts_range->end, p.pts_range->origin, p.pts_range->seq_base}
                                : json()},
      {"audio_note", p.audio_note},
      {"encoder", encoder_to_json(p.encoder)},
      {"nb_workers", p.nb_workers},
      {"min_workers", p.min_workers},
      {"window", p.window},
      {"batch", p.batch},
      {"max_restarts", p.max_restarts},
      {"hang_timeout_s", p.hang_timeout_s},
      {"drain_timeout_s", p.drain_timeout_s},
      {"progress", p.progress},
      {"progress_file", p.progress_file},
      {"decoder_threads", p.decoder_threads},
      {"decoder_note", p.decoder_note},
      {"worker_threads", p.worker_threads},
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
  p.own_process = j.at("own_process");
  p.null_output = j.at("null_output");
  p.preview = j.at("preview");
  p.copy_audio = j.at("copy_audio");
  p.audio_encoder = j.at("audio_encoder");
  p.audio_bitrate = j.at("audio_bitrate");
  p.keep_metadata = j.at("keep_metadata");
  p.autorotate_degrees = j.at("autorotate_degrees");
  p.start_s = j.at("start_s");
  p.output_rate = rational(j.at("output_rate"));
  p.display_aspect = rational(j.at("display_aspect"));
  p.duration_s = j.at("duration_s");
  p.vf_workers = j.at("vf_workers");
  p.vf_in_order = j.at("vf_in_order");
  p.vf_graph = j.at("vf_graph");
  p.vf_graph_input = {j.at("vf_graph_input").at(0), j.at("vf_graph_input").at(1)};
  p.vf_graph_rate = rational(j.at("vf_graph_rate"));
  p.master_playlist = j.at("master_playlist");
  for (const json& output : j.at("more_outputs"))
    p.more_outputs.push_back(plan_from_json(output.dump()));
  p.max_frames = j.at("max_frames");
  if (const json& r = j.at("pts_range"); !r.is_null())
    p.pts_range = PtsRange{r.at(0), r.at(1), r.at(2), r.at(3), r.at(4), r.at(5)};
  p.audio_note = j.at("audio_note");
  const json& e = j.at("encoder");
  p.encoder.output = e.at("output");
  p.encoder.format = e.at("format");
  p.encoder.codec = e.at("codec");
  p.encoder.preset = e.at("preset");
  p.encoder.codec_options = e.at("codec_options").get<std::map<std::string, std::string>>();
  p.encoder.muxer_options = e.at("muxer_options").get<std::map<std::string, std::string>>();
  p.encoder.tags = e.at("tags").get<std::map<std::string, std::string>>();
  p.encoder.overwrite = e.at("overwrite");
  p.encoder.faststart = e.at("faststart");
  p.encoder.pix_fmt = e.at("pix_fmt");
  p.encoder.threads = e.at("threads");
  if (e.contains("crf")) p.encoder.crf = e.at("crf").get<int>();
  if (e.contains("bitrate")) p.encoder.bitrate = e.at("bitrate").get<std::int64_t>();
  if (e.contains("gop")) p.encoder.gop = e.at("gop").get<int>();
  p.nb_workers = j.at("nb_workers");
  p.min_workers = j.at("min_workers");
  p.window = j.at("window");
  p.batch = j.at("batch");
  p.max_restarts = j.at("max_restarts");
  p.hang_timeout_s = j.at("hang_timeout_s");
  p.drain_timeout_s = j.at("drain_timeout_s");
  p.progress = j.at("progress");
  p.progress_file = j.at("progress_file");
  p.decoder_threads = j.at("decoder_threads");
  p.decoder_note = j.at("decoder_note");
  p.worker_threads = j.at("worker_threads");
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

}  // namespace vpipe::plan
