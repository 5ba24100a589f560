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
#include <string>
#include <vector>

#include "common/error.hpp"
#include "plan/option_table.hpp"
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
    {"--workers", {{"-w", "2-6"}, "workers: 2-6"}},
    {"--decoder-threads", {{"--decoder-threads", "3"}, "decoder_threads: 3"}},
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
    EXPECT_TRUE(from_flags == from_key) << flag << " vs '" << example.yaml << "'";
    EXPECT_FALSE(from_flags == RunOptions{}) << flag << ": the example changes nothing";
  }
}

// The table of every run option: each key is an example's, and an output's own option copies just
// the field its flag sets (a field left out would be lost for every later output), while a
// run-wide option copies nothing.
TEST(FlagsAndKeysTest, TheOptionTableNamesEachKeyOnceAndCopiesWhatAnOutputsFlagSets) {
  std::set<std::string> keys;
  int per_output = 0;
  for (const RunOption& option : run_option_table()) {
    SCOPED_TRACE(option.long_flag());
    const auto example = std::find_if(kExamples.begin(), kExamples.end(),
                                      [&](const auto& e) { return e.first == option.long_flag(); });
    if (option.key == nullptr) {
      EXPECT_TRUE(kCommandLineOnly.contains(option.long_flag()));
      continue;
    }
    EXPECT_TRUE(keys.insert(option.key).second) << option.key << " is given to two options";
    ASSERT_NE(example, kExamples.end());
    EXPECT_EQ(example->second.yaml.rfind(std::string(option.key) + ":", 0), 0u)
        << "the key is " << option.key;
    const RunOptions given = parse_run_args(example->second.flags);
    RunOptions copied;
    copy_output_options(copied, given);
    if (option.copy != nullptr) {
      ++per_output;
      EXPECT_TRUE(copied == given);
      RunOptions own;  // the entry's own copy alone: it copies the field its flag sets
      option.copy(own, given);
      EXPECT_TRUE(own == given) << "the flag sets a field its entry does not copy";
    } else {
      EXPECT_TRUE(copied == RunOptions{}) << "a run-wide option reached an output";
    }
  }
  EXPECT_GE(per_output, 19);
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
  EXPECT_TRUE(from_flags == from_key);
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

// A value that does not parse is refused in one line naming the flag, or the config's key.
TEST(FlagsAndKeysTest, AValueThatDoesNotParseNamesItsFlagOrKey) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> flags = {
      {{"-w", "abc"}, "--workers 'abc' is not auto, a count of at least 1, or MIN-MAX"},
      {{"-w", "0"}, "--workers '0' is not auto"},
      {{"-w", "3-x"}, "--workers '3-x' is not auto"},
      {{"--crf", "2.5"}, "--crf '2.5' is not a whole number"},
      {{"--latency-budget", "fast"}, "--latency-budget 'fast' is not a number"},
      {{"--map-metadata", "3"}, "--map-metadata '3' is not -1"},
      {{"--ss", "xyz"}, "--ss 'xyz' is not a time"},
      {{"--codec-opt", "tune"}, "--codec-opt 'tune' must be key=value"},
  };
  for (const auto& [args, message] : flags) {
    try {
      (void)parse_run_args(args);
      ADD_FAILURE() << args[0] << " " << args[1] << " was taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
  for (const std::string yaml : {"batch: many", "realtime: sometimes", "map: {a: b}"}) {
    try {
      (void)from_yaml(yaml);
      ADD_FAILURE() << yaml << " was taken";
    } catch (const Error& e) {
      const std::string key = yaml.substr(0, yaml.find(':'));
      EXPECT_NE(std::string(e.what()).find("key '" + key + "' has a value of the wrong type"),
                std::string::npos)
          << e.what();
    }
  }
  // YAML reads an unquoted on/off as a boolean; the option takes the word as written.
  EXPECT_EQ(from_yaml("live: on").live, "on");
}

}  // namespace
}  // namespace vpipe::plan
