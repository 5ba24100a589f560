// Every `vpipe run` flag has its YAML config key, and the two give the same options: a table of
// one example per flag, checked both ways. A new flag fails the first test until it has a key
// (or is listed as command-line only) and an example here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "plan/options.hpp"
#include "plan/run_flags.hpp"

namespace vpipe::plan {
namespace {

namespace fs = std::filesystem;

struct Example {
  std::vector<std::string> flags;  // as given on the command line
  std::string yaml;                // the same as a config file's line(s)
};

// Keyed by the flag's long name.
const std::vector<std::pair<std::string, Example>> kExamples = {
    {"--input", {{"-i", "/abs/in.mkv"}, "input: /abs/in.mkv"}},
    {"--input-format", {{"--input-format", "mpegts"}, "input_format: mpegts"}},
    {"--input-opt",
     {{"--input-opt", "video_size=640x480"}, "input_options: {video_size: 640x480}"}},
    {"--map", {{"--map", "0:v:1", "--map", "0:a:0"}, "map: [\"0:v:1\", \"0:a:0\"]"}},
    {"--input-timeout", {{"--input-timeout", "3"}, "input_timeout: 3"}},
    {"--ss", {{"--ss", "00:01:30.5"}, "start: \"00:01:30.5\""}},
    {"--rate", {{"-r", "30000/1001"}, "rate: 30000/1001"}},
    {"--duration", {{"-t", "12.5"}, "duration: 12.5"}},
    {"--to", {{"--to", "01:10"}, "to: \"01:10\""}},
    {"--frames", {{"--frames", "12"}, "frames: 12"}},
    {"--size", {{"--size", "hd720"}, "size: hd720"}},
    {"--aspect", {{"--aspect", "16:9"}, "aspect: \"16:9\""}},
    {"--muxer-opt", {{"--muxer-opt", "hls_time=4"}, "muxer_options: {hls_time: \"4\"}"}},
    {"--metadata", {{"--metadata", "title=Holiday"}, "metadata: {title: Holiday}"}},
    {"--output", {{"-o", "out.mkv"}, "output: out.mkv"}},
    {"--tee", {{"--tee", "preview"}, "tee: preview"}},
    {"--format", {{"-f", "matroska"}, "format: matroska"}},
    {"--vf", {{"--vf", "resize=640x-2,gray"}, "vf: resize=640x-2,gray"}},
    {"--codec", {{"--codec", "ffv1"}, "codec: ffv1"}},
    {"--preset", {{"--preset", "veryfast"}, "preset: veryfast"}},
    {"--crf", {{"--crf", "23"}, "crf: 23"}},
    {"--bitrate", {{"--bitrate", "2M"}, "bitrate: 2M"}},
    {"--gop", {{"-g", "48"}, "gop: 48"}},
    {"--codec-opt", {{"--codec-opt", "tune=film"}, "codec_options: {tune: film}"}},
    {"--pix-fmt", {{"--pix-fmt", "yuv444p"}, "pix_fmt: yuv444p"}},
    {"--map-metadata", {{"--map-metadata", "-1"}, "no_metadata: true"}},
    {"--no-autorotate", {{"--no-autorotate"}, "autorotate: false"}},
    {"--workers", {{"-w", "3"}, "workers: 3"}},
    {"--affinity", {{"--affinity", "none"}, "affinity: none"}},
    {"--window", {{"--window", "20"}, "window: 20"}},
    {"--batch", {{"--batch", "2"}, "batch: 2"}},
    {"--realtime", {{"--realtime"}, "realtime: true"}},
    {"--live", {{"--live", "on"}, "live: \"on\""}},
    {"--latency-budget", {{"--latency-budget", "250"}, "latency_budget: 250"}},
    {"--drop", {{"--drop", "newest"}, "drop: newest"}},
    {"--audio-codec", {{"--audio-codec", "aac"}, "audio_codec: aac"}},
    {"--audio-bitrate", {{"--audio-bitrate", "96k"}, "audio_bitrate: 96k"}},
    {"--an", {{"--an"}, "no_audio: true"}},
    {"--max-restarts", {{"--max-restarts", "2"}, "max_restarts: 2"}},
    {"--hang-timeout", {{"--hang-timeout", "7"}, "hang_timeout: 7"}},
    {"--drain-timeout", {{"--drain-timeout", "9"}, "drain_timeout: 9"}},
    {"--overwrite", {{"-y"}, "overwrite: true"}},
    {"--faststart", {{"--faststart"}, "faststart: true"}},
    {"--quiet", {{"-q"}, "quiet: true"}},
    {"--progress", {{"--progress", "json"}, "progress: json"}},
    {"--progress-file", {{"--progress-file", "fd:3"}, "progress_file: \"fd:3\""}},
    {"--log-level", {{"--log-level", "debug"}, "log_level: debug"}},
    {"--log-file", {{"--log-file", "/abs/vpipe.log"}, "log_file: /abs/vpipe.log"}},
    {"--stats-json", {{"--stats-json", "/abs/stats.json"}, "stats_json: /abs/stats.json"}},
    {"--metrics", {{"--metrics", "127.0.0.1:9100"}, "metrics: \"127.0.0.1:9100\""}},
    {"--metrics-linger", {{"--metrics-linger", "15"}, "metrics_linger: 15"}},
    {"--metrics-textfile",
     {{"--metrics-textfile", "/abs/vpipe.prom"}, "metrics_textfile: /abs/vpipe.prom"}},
    {"--metrics-push",
     {{"--metrics-push", "http://gw:9091/metrics/job/x"},
      "metrics_push: \"http://gw:9091/metrics/job/x\""}},
    {"--master-playlist",
     {{"--master-playlist", "/abs/master.m3u8"}, "master_playlist: /abs/master.m3u8"}},
};

// Flags that are about this one command line, not a run's settings.
const std::set<std::string> kCommandLineOnly = {"--help", "--config", "--dry-run",
                                                "--no-overwrite"};

// Every field of RunOptions, as text: two options are the same when their texts are.
std::string text_of(const RunOptions& o) {
  std::ostringstream s;
  const auto opt = [&](const auto& v) {
    if (v) {
      s << *v;
    } else {
      s << "unset";
    }
    s << '|';
  };
  s << o.input << '|' << o.input_format << '|';
  for (const auto& m : o.maps) s << m << ',';
  for (const auto& [k, v] : o.input_options) s << k << '=' << v << ',';
  s << '|' << o.input_timeout_s << '|' << o.live << '|' << o.realtime << '|' << o.latency_budget_ms
    << '|' << o.drop << '|';
  opt(o.start_s);
  opt(o.duration_s);
  opt(o.end_s);
  opt(o.frames);
  s << o.size << '|' << o.aspect << '|';
  for (const auto& [k, v] : o.muxer_options) s << k << '=' << v << ',';
  for (const auto& [k, v] : o.metadata) s << k << '=' << v << ',';
  if (o.rate) {
    s << o.rate->num << '/' << o.rate->den << '|';
  } else {
    s << "unset|";
  }
  s << o.output << '|' << o.tee << '|' << o.format << '|' << o.vf << '|' << o.codec << '|'
    << o.preset << '|';
  opt(o.crf);
  opt(o.bitrate);
  opt(o.gop);
  for (const auto& [k, v] : o.codec_options) s << k << '=' << v << ',';
  s << '|' << o.workers << '|' << o.affinity << '|' << o.window << '|' << o.batch << '|'
    << o.max_restarts << '|' << o.hang_timeout_s << '|' << o.drain_timeout_s << '|' << o.no_audio
    << '|' << o.audio_codec << '|';
  opt(o.audio_bitrate);
  s << o.no_metadata << '|';
  opt(o.autorotate);
  s << o.pix_fmt << '|' << o.overwrite << '|' << o.faststart << '|' << o.quiet << '|' << o.progress
    << '|' << o.progress_file << '|' << o.log_level << '|' << o.log_file << '|' << o.stats_json
    << '|' << o.metrics << '|' << o.metrics_linger_s << '|' << o.metrics_textfile << '|'
    << o.metrics_push << '|' << o.master_playlist << '|';
  for (const RunOptions& more : o.more_outputs) s << '[' << text_of(more) << ']';
  return s.str();
}

// The options a config file of `text` gives: read alone, or (`as_run`) as `vpipe run --config`
// reads it.
RunOptions from_yaml(const std::string& text, bool as_run = false) {
  char pattern[] = "/tmp/vpipe-keys-XXXXXX.yaml";
  const int fd = mkstemps(pattern, 5);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(pattern) << text << "\n";
  RunOptions o;
  try {
    if (as_run) {
      o = parse_run_args({"--config", pattern});
    } else {
      apply_config_file(pattern, o);
    }
  } catch (...) {
    fs::remove(pattern);
    throw;
  }
  fs::remove(pattern);
  return o;
}

TEST(FlagsAndKeysTest, EveryRunFlagHasAConfigKeyAndAnExample) {
  CLI::App app;
  RunFlags flags;
  flags.add_to(&app);
  std::set<std::string> with_example;
  for (const auto& [flag, example] : kExamples) with_example.insert(flag);
  int seen = 0;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) {
      const std::string flag = "--" + name;
      ++seen;
      if (kCommandLineOnly.contains(flag)) continue;
      EXPECT_TRUE(with_example.contains(flag))
          << flag << " has no config key example here: give it a YAML key and add one";
    }
  }
  EXPECT_GT(seen, 40) << "the run flags were not found";
}

TEST(FlagsAndKeysTest, EachFlagAndItsConfigKeyGiveTheSameOptions) {
  const std::string defaults = text_of(RunOptions{});
  for (const auto& [flag, example] : kExamples) {
    RunOptions from_flags;
    RunOptions from_key;
    try {
      from_flags = parse_run_args(example.flags);
      from_key = from_yaml(example.yaml);
    } catch (const std::exception& e) {
      ADD_FAILURE() << flag << ": " << e.what();
      continue;
    }
    EXPECT_EQ(text_of(from_flags), text_of(from_key)) << flag << " vs '" << example.yaml << "'";
    EXPECT_NE(text_of(from_flags), defaults) << flag << ": the example changes nothing";
  }
}

// The table of an output's own options: each names a real flag and its config key, and copies
// all its flag sets (a field left out of the table would be lost for every later output).
TEST(FlagsAndKeysTest, TheOutputOptionTableNamesRealFlagsAndKeysAndCopiesWhatTheySet) {
  CLI::App app;
  RunFlags flags;
  flags.add_to(&app);
  ASSERT_GE(output_option_table().size(), 19u);
  for (const OutputOption& option : output_option_table()) {
    EXPECT_NE(app.get_option_no_throw(option.flag), nullptr) << option.flag;
    const auto example = std::find_if(kExamples.begin(), kExamples.end(),
                                      [&](const auto& e) { return e.first == option.flag; });
    ASSERT_NE(example, kExamples.end()) << option.flag;
    EXPECT_EQ(example->second.yaml.rfind(std::string(option.key) + ":", 0), 0u)
        << option.flag << "'s key is " << option.key;
    const RunOptions given = parse_run_args(example->second.flags);
    RunOptions copied;
    copy_output_options(copied, given);
    EXPECT_EQ(text_of(copied), text_of(given)) << option.flag;
  }
}

// Several outputs: ffmpeg's order on the command line (each output's options before it), and a
// config's `outputs:` list, give the same options; the run's own options reach every output.
TEST(FlagsAndKeysTest, SeveralOutputsFromFlagsAndFromAnOutputsListAreTheSame) {
  const std::vector<std::string> args = {"run", "-i",    "/abs/in.mkv", "-y",   "--vf",   "gray",
                                         "-o",  "a.mkv", "--codec",     "ffv1", "--size", "hd720",
                                         "-o",  "b.mkv", "-w",          "2"};
  const OutputArgs split = split_outputs(args);
  ASSERT_EQ(split.more.size(), 1u);
  RunOptions from_flags =
      parse_run_args(std::vector<std::string>(split.run.begin() + 1, split.run.end()));
  for (const auto& more : split.more)
    from_flags.more_outputs.push_back(output_options(from_flags, more));
  const RunOptions from_key = from_yaml(
      "input: /abs/in.mkv\noverwrite: true\nworkers: 2\noutputs:\n  - {output: a.mkv, vf: "
      "gray}\n  - {output: b.mkv, codec: ffv1, size: hd720}",
      /*as_run=*/true);
  EXPECT_EQ(text_of(from_flags), text_of(from_key));
  ASSERT_EQ(from_key.more_outputs.size(), 1u);
  const RunOptions& b = from_key.more_outputs[0];
  EXPECT_EQ(b.output, "b.mkv");
  EXPECT_EQ(b.vf, "") << "nothing passes from one output to the next";
  EXPECT_EQ(b.codec, "ffv1");
  EXPECT_TRUE(b.overwrite) << "the run's own options reach every output";
  EXPECT_EQ(b.workers, 2);

  // A run-wide key in an output, and a run-wide flag between two outputs, are refused.
  EXPECT_THROW(from_yaml("outputs:\n  - {output: a.mkv, workers: 2}"), Error);
  EXPECT_THROW(output_options(from_flags, {"-w", "2", "-o", "c.mkv"}), Error);
}

}  // namespace
}  // namespace vpipe::plan
