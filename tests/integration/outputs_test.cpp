// Several outputs from one decode (-o given more than once, each with its own options, in
// ffmpeg's order): every output is what a run of that output alone gives, frame for frame, with
// the part of the chains all share run once on the workers. Also the plan's account of it, and
// the usage errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;

class OutputsTest : public RunDirTest {
 protected:
  // 1 s of testsrc2 at 320x240, 30 fps, with a tone, lossless video.
  std::string make_input() {
    const std::string in = path("in.mkv");
    EXPECT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=1 "
                    "-f lavfi -i sine=duration=1 -pix_fmt yuv420p -c:v ffv1 -c:a aac " +
                    in),
              0);
    return in;
  }
};

struct Rendition {
  std::vector<std::string> options;  // the output's own, before its name
  std::string name;
  std::size_t frames;
  int width;
};

TEST_F(OutputsTest, EachOfThreeOutputsIsWhatARunOfItAloneGives) {
  const std::string in = make_input();
  const std::vector<Rendition> renditions = {
      {{"-vf", "gblur=sigma=2", "-c:v", "ffv1"}, "full.mkv", 30, 320},
      {{"-vf", "gblur=sigma=2,scale=160:120", "-c:v", "ffv1"}, "half.mkv", 30, 160},
      // Its own graph: a frame rate of its own, fewer frames.
      {{"-vf", "gblur=sigma=2,scale=80:60,fps=10", "-c:v", "ffv1", "-an"}, "small.mkv", 10, 80},
  };
  std::vector<std::string> args = {"run",
                                   "-q",
                                   "-y",
                                   "--workers",
                                   "2",
                                   "--batch",
                                   "1",
                                   "--stats-json",
                                   path("stats.json"),
                                   "--metrics-textfile",
                                   path("vpipe.prom"),
                                   "-i",
                                   in};
  for (const Rendition& r : renditions) {
    args.insert(args.end(), r.options.begin(), r.options.end());
    args.push_back(path(r.name));
  }
  const RunResult all = run_vpipe(args);
  ASSERT_EQ(all.exit_code, 0) << all.err;

  const nlohmann::json report = stats();
  ASSERT_EQ(report.at("outputs").size(), renditions.size());
  for (std::size_t i = 0; i < renditions.size(); ++i) {
    const Rendition& r = renditions[i];
    std::vector<std::string> alone = {"run", "-q", "-y", "-i", in};
    alone.insert(alone.end(), r.options.begin(), r.options.end());
    alone.push_back(path("alone-" + r.name));
    const RunResult one = run_vpipe(alone);
    ASSERT_EQ(one.exit_code, 0) << one.err;

    const DecodedVideo got = decode_video(path(r.name));
    const DecodedVideo want = decode_video(path("alone-" + r.name));
    ASSERT_EQ(got.nb_frames(), r.frames) << r.name;
    EXPECT_EQ(got.width, r.width) << r.name;
    EXPECT_EQ(got.checksums, want.checksums) << r.name;
    EXPECT_EQ(got.pts, want.pts) << r.name;
    EXPECT_EQ(probe_streams(path(r.name)).size(), probe_streams(path("alone-" + r.name)).size())
        << r.name << ": the same streams (audio where not -an)";
    EXPECT_EQ(report.at("outputs")[i].at("frames").get<std::size_t>(), r.frames) << r.name;
    EXPECT_EQ(report.at("outputs")[i].at("output").get<std::string>(), path(r.name));
    EXPECT_THAT(read_file(path("vpipe.prom")),
                HasSubstr("\nvpipe_output_frames_total{output=\"" + path(r.name) + "\"} " +
                          std::to_string(r.frames) + "\n"));
  }
  // One decode: each frame was decoded once, not once per output.
  for (const auto& stage : report.at("stages")) {
    if (stage.at("stage") == "decode") {
      EXPECT_EQ(stage.at("frames_out").get<int>(), 30);
    }
  }
}

// The streaming user's first job: an HLS ladder (three renditions, each its own playlist with
// 1 s segments) and the master playlist that lists them, in one run with one decode.
TEST_F(OutputsTest, AnHlsLadderWithItsMasterPlaylistIsOneRun) {
  const std::string in = make_input();
  std::filesystem::create_directories(path("hls"));
  std::vector<std::string> args = {"run", "-q", "-y", "-i", in};
  const std::vector<std::pair<std::string, std::string>> ladder = {
      {"320x240", "hls/240p.m3u8"}, {"160x120", "hls/120p.m3u8"}, {"80x60", "hls/60p.m3u8"}};
  for (const auto& [size, playlist] : ladder) {
    args.insert(
        args.end(),
        {"-s", size, "-c:v", "libx264", "-b:v", size == "320x240" ? "600k" : "150k", "-hls_time",
         "1", "-hls_playlist_type", "vod", "-master_pl_name", "master.m3u8", path(playlist)});
  }
  const RunResult r = run_vpipe(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::ifstream master(path("hls/master.m3u8"));
  ASSERT_TRUE(master) << "no master playlist";
  const std::string text((std::istreambuf_iterator<char>(master)), {});
  EXPECT_EQ(text.rfind("#EXTM3U\n", 0), 0u) << text;
  // Highest bitrate first; each variant with its resolution, and its playlist's name.
  const auto first = text.find("RESOLUTION=320x240");
  const auto second = text.find("RESOLUTION=160x120");
  const auto third = text.find("RESOLUTION=80x60");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  ASSERT_NE(third, std::string::npos) << text;
  EXPECT_LT(first, third) << text;
  for (const auto& [size, playlist] : ladder) {
    EXPECT_THAT(text, HasSubstr("\n" + playlist.substr(4) + "\n")) << text;
    const DecodedVideo v = decode_video(path(playlist));
    EXPECT_EQ(v.nb_frames(), 30u) << playlist;
    EXPECT_EQ(std::to_string(v.width) + "x" + std::to_string(v.height), size);
  }
  // The muxers did not write one master each: the one master lists all three.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2 + 2 * 3) << text;
}

// -frames:v is each output's own, as in ffmpeg: before the first output it is the first's.
TEST_F(OutputsTest, FramesVCountsEachOutputsOwnFrames) {
  const std::string in = make_input();
  const RunResult r = run_vpipe({"run",
                                 "--progress",
                                 "none",
                                 "--stats-json",
                                 path("stats.json"),
                                 "-y",
                                 "-i",
                                 in,
                                 "-frames:v",
                                 "5",
                                 "-c:v",
                                 "ffv1",
                                 path("five.mkv"),
                                 "-c:v",
                                 "ffv1",
                                 path("all.mkv"),
                                 "-vf",
                                 "fps=10",
                                 "-frames:v",
                                 "4",
                                 "-c:v",
                                 "ffv1",
                                 path("four.mkv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(decode_video(path("five.mkv")).nb_frames(), 5u);
  EXPECT_EQ(decode_video(path("all.mkv")).nb_frames(), 30u);
  EXPECT_EQ(decode_video(path("four.mkv")).nb_frames(), 4u);
  // Each ends its audio with its video (within an AAC frame, 21 ms), as the ffmpeg CLI does; not
  // with the input's second of audio.
  const auto audio_end = [&](const std::string& name) {
    for (const StreamInfo& s : probe_streams(path(name)))
      if (s.type == "audio") return s.last_pts_s;
    ADD_FAILURE() << name << " has no audio";
    return -1.0;
  };
  EXPECT_NEAR(audio_end("five.mkv"), 5 / 30.0, 0.05);
  EXPECT_NEAR(audio_end("four.mkv"), 0.4, 0.05);
  EXPECT_GT(audio_end("all.mkv"), 0.9);
  // Each output process's frames out are those it encoded, not those it was offered.
  const nlohmann::json report = stats();
  std::map<std::string, int> frames_out;
  for (const auto& st : report.at("stages")) frames_out[st.at("stage")] = st.at("frames_out");
  EXPECT_EQ(frames_out["encode-1"], 30);
  EXPECT_EQ(frames_out["encode-2"], 4);
  // The run's last line names each output with the frames it took.
  EXPECT_THAT(r.err, HasSubstr(path("five.mkv") + " (5 frames), " + path("all.mkv") +
                               " (30 frames), " + path("four.mkv") + " (4 frames)"));
}

TEST_F(OutputsTest, DryRunShowsTheSharedPartAndEachOutput) {
  const std::string in = make_input();
  const RunResult r = run_vpipe({"run", "--dry-run", "-y", "-i", in, "--workers", "2", "-vf",
                                 "gblur=sigma=2", path("a.mkv"), "-vf",
                                 "gblur=sigma=2,scale=160:120", "-c:v", "ffv1", path("b.mkv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("on the 2 worker(s), for every output: gblur=sigma=2"));
  EXPECT_THAT(r.out, HasSubstr("output 2: " + path("b.mkv") + " (ffv1"));
  EXPECT_THAT(r.out, HasSubstr("its own filters, in vpipe:encode-1: scale=160:120"));
  EXPECT_THAT(r.out, HasSubstr("encoded in vpipe:encode-1, a process of its own"));
  EXPECT_THAT(r.out, HasSubstr("vpipe:encode-1  cpus "));
  EXPECT_THAT(r.out, HasSubstr("one decode for all 2 outputs"));
}

// A stream input (MPEG-TS on stdin, read once): decode hands its audio on once, and every output
// that takes the audio gets all of it: copied packet for packet, or re-encoded, as a run of that
// output alone from the same stream gives.
TEST_F(OutputsTest, EveryOutputTakesAStreamInputsAudio) {
  const std::string ts = path("in.ts");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -f "
                  "lavfi -i sine=duration=2 -c:v libx264 -preset ultrafast -c:a aac " +
                  ts),
            0);
  // Each audio packet of a file as "pts,size,checksum" lines.
  const auto audio_packets = [&](const std::string& file) {
    EXPECT_EQ(
        shell("ffprobe -v error -select_streams a -show_entries packet=pts,size -show_data_hash "
              "CRC32 -of csv=p=0 " +
              file + " > " + file + ".packets"),
        0);
    return read_file(file + ".packets");
  };
  const auto run_from_stdin = [&](const std::string& outputs) {
    return shell("cat " + ts + " | " + vpipe_binary() + " run -q -y -i - " + outputs + " 2>" +
                 path("err.txt"));
  };
  ASSERT_EQ(run_from_stdin("-o " + path("a.mkv") + " -c:a mp2 -o " + path("b.mkv") + " -an -o " +
                           path("c.mkv") + " -o " + path("d.mkv")),
            0)
      << read_file(path("err.txt"));
  ASSERT_EQ(run_from_stdin("-o " + path("alone-a.mkv")), 0) << read_file(path("err.txt"));
  ASSERT_EQ(run_from_stdin("-c:a mp2 -o " + path("alone-b.mkv")), 0) << read_file(path("err.txt"));

  const std::string copied = audio_packets(path("alone-a.mkv"));
  EXPECT_GT(count_lines(copied), 80) << "2 s of AAC: 94 packets";
  EXPECT_EQ(audio_packets(path("a.mkv")), copied);
  EXPECT_EQ(audio_packets(path("d.mkv")), copied) << "the fourth output has every packet too";
  EXPECT_EQ(count_lines(audio_packets(path("b.mkv"))),
            count_lines(audio_packets(path("alone-b.mkv"))));
  EXPECT_EQ(probe_streams(path("b.mkv")).size(), 2u);
  EXPECT_EQ(probe_streams(path("c.mkv")).size(), 1u) << "-an: no audio";
  for (const char* name : {"a.mkv", "b.mkv", "c.mkv", "d.mkv"})
    EXPECT_EQ(decode_video(path(name)).nb_frames(), 60u) << name;

  // An output with its -frames:v beside one that takes every frame: finished at its count, its
  // audio ending with its video, while the other still gets every packet.
  ASSERT_EQ(run_from_stdin("-frames:v 15 -o " + path("short.mkv") + " -o " + path("long.mkv")), 0)
      << read_file(path("err.txt"));
  EXPECT_EQ(decode_video(path("short.mkv")).nb_frames(), 15u);
  EXPECT_EQ(audio_packets(path("long.mkv")), copied);
  double short_audio_end = -1;
  for (const StreamInfo& st : probe_streams(path("short.mkv")))
    if (st.type == "audio") short_audio_end = st.last_pts_s - st.start_s;
  EXPECT_NEAR(short_audio_end, 0.5, 0.05) << "15 frames at 30 fps";
}

// Live, an output that cannot keep up drops its own late frames; the others still take every
// frame. One output is far too slow for real time (1080p, x264 veryslow on one thread: a few
// frames a second), the other is tiny; before, the stage dropped each late frame for both.
TEST_F(OutputsTest, LiveOutputsDropLateFramesApartFromEachOther) {
  const RunResult r = run_vpipe({"run",
                                 "--progress",
                                 "none",
                                 "-y",
                                 "-i",
                                 "testsrc2:size=1920x1080:rate=30:duration=4",
                                 "--realtime",
                                 "--stats-json",
                                 path("stats.json"),
                                 "--metrics-textfile",
                                 path("vpipe.prom"),
                                 "-c:v",
                                 "libx264",
                                 "--preset",
                                 "veryslow",
                                 "--codec-opt",
                                 "threads=1",
                                 "-o",
                                 path("slow.mkv"),
                                 "-s",
                                 "160x120",
                                 "-c:v",
                                 "libx264",
                                 "--preset",
                                 "ultrafast",
                                 "-o",
                                 path("fast.mkv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json outputs = stats().at("outputs");
  ASSERT_EQ(outputs.size(), 2u);
  const auto frames = [&](int i) { return outputs[i].at("frames").get<std::uint64_t>(); };
  const auto drops = [&](int i) { return outputs[i].at("drops").get<std::uint64_t>(); };
  EXPECT_GT(drops(0), 0u) << "the slow output dropped late frames of its own";
  EXPECT_GE(frames(1), 108u) << "the fast output took (nearly) every frame: " << outputs.dump();
  EXPECT_LT(frames(0), frames(1));
  // Each frame the stage kept is either encoded or dropped by each output.
  EXPECT_EQ(frames(0) + drops(0), frames(1) + drops(1));
  EXPECT_EQ(decode_video(path("fast.mkv")).nb_frames(), frames(1));
  EXPECT_EQ(decode_video(path("slow.mkv")).nb_frames(), frames(0));
  EXPECT_GT(outputs[0].at("busy_s").get<double>(), outputs[1].at("busy_s").get<double>());
  EXPECT_THAT(read_file(path("vpipe.prom")),
              HasSubstr("vpipe_output_drops_total{output=\"" + path("slow.mkv") + "\"} " +
                        std::to_string(drops(0)) + "\n"));
  EXPECT_THAT(r.err, HasSubstr("dropped by one output alone, late for it: " + path("slow.mkv")));
}

TEST_F(OutputsTest, WhatSeveralOutputsCannotDoIsAOneLineUsageError) {
  const std::string in = make_input();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-o", path("a.mkv"), "-o", path("a.mkv")}, "is given twice"},
      {{"-o", path("a.mkv"), "--workers", "2", "-o", path("b.mkv")},
       "applies to the whole run, not to one output"},
      {{"-o", path("a.mkv"), "-o", "null"}, "not null"},
      {{"-c", "copy", "-o", path("a.mkv"), "-c", "copy", "-o", path("b.mkv")},
       "-c copy on every output"},
      {{"--master-playlist", path("m.m3u8"), "-o", path("a.m3u8"), "-o", path("b.mkv")},
       "output '" + path("b.mkv") + "' is not one"},
  };
  for (const auto& [outputs, says] : cases) {
    std::vector<std::string> args = {"run", "-y", "-i", in};
    args.insert(args.end(), outputs.begin(), outputs.end());
    const RunResult r = run_vpipe(args);
    EXPECT_EQ(r.exit_code, 2) << says << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(says));
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

// A remux beside a transcode, as `ffmpeg -i in -c copy a.mkv -c:v libx264 b.mp4`: the copy is a
// later output, whose process remuxes the input file's packets beside the pipeline. Its packets
// are those of a -c copy run alone; the encoded output is what it gives alone.
TEST_F(OutputsTest, ACopyBesideAnEncodedOutputIsWhatEachGivesAlone) {
  const std::string in = path("in.mp4");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -f "
                  "lavfi -i sine=duration=2 -c:v libx264 -preset ultrafast -g 15 -c:a aac " +
                  in),
            0);
  const RunResult r =
      run_vpipe({"run", "-q", "-y", "-i", in, "--stats-json", path("stats.json"), "-s", "160x120",
                 "-c:v", "ffv1", path("small.mkv"), "-c", "copy", path("copy.mkv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const RunResult copy_alone =
      run_vpipe({"run", "-q", "-y", "-i", in, "-c", "copy", path("alone-copy.mkv")});
  ASSERT_EQ(copy_alone.exit_code, 0) << copy_alone.err;
  const RunResult small_alone = run_vpipe(
      {"run", "-q", "-y", "-i", in, "-s", "160x120", "-c:v", "ffv1", path("alone-small.mkv")});
  ASSERT_EQ(small_alone.exit_code, 0) << small_alone.err;

  // Every packet of a file as "pts,size,checksum" lines, video and audio.
  const auto packets = [&](const std::string& file) {
    EXPECT_EQ(shell("ffprobe -v error -show_entries packet=stream_index,pts,size -show_data_hash "
                    "CRC32 -of csv=p=0 " +
                    file + " > " + file + ".packets"),
              0);
    return read_file(file + ".packets");
  };
  const std::string copied = packets(path("copy.mkv"));
  EXPECT_GT(count_lines(copied), 100) << "60 video packets and the audio's";
  EXPECT_EQ(copied, packets(path("alone-copy.mkv")));
  const DecodedVideo small = decode_video(path("small.mkv"));
  EXPECT_EQ(small.nb_frames(), 60u);
  EXPECT_EQ(small.checksums, decode_video(path("alone-small.mkv")).checksums);
  const nlohmann::json report = stats();
  ASSERT_EQ(report.at("outputs").size(), 2u);
  EXPECT_EQ(report.at("outputs")[1].at("frames").get<int>(), 60) << "the copy's video packets";
  bool copied_in_a_process = false;
  for (const auto& stage : report.at("stages"))
    copied_in_a_process |= stage.at("stage") == "encode-1";
  EXPECT_TRUE(copied_in_a_process) << report.at("stages").dump();
  // Written first, as ffmpeg users do, the copy changes places with the encoded output: the
  // same two files.
  const RunResult copy_first =
      run_vpipe({"run", "-q", "-y", "-i", in, "-c", "copy", path("first-copy.mkv"), "-s", "160x120",
                 "-c:v", "ffv1", path("first-small.mkv")});
  ASSERT_EQ(copy_first.exit_code, 0) << copy_first.err;
  EXPECT_EQ(packets(path("first-copy.mkv")), copied);
  EXPECT_EQ(decode_video(path("first-small.mkv")).checksums, small.checksums);
  // A pipe gives its packets once: the copy could not read them again.
  const int piped =
      shell("cat " + in + " | " + vpipe_binary() + " run -y -i - -o " + path("p.mkv") +
            " -c copy -o " + path("pc.mkv") + " 2>" + path("err.txt"));
  EXPECT_EQ(piped, 2);
  EXPECT_THAT(read_file(path("err.txt")), HasSubstr("a live input or a pipe cannot give"));
}

TEST_F(OutputsTest, AnOutputThatCannotBeWrittenFailsTheRunBeforeAnyFrame) {
  const std::string in = make_input();
  const RunResult r =
      run_vpipe({"run", "-y", "-i", in, "-o", path("a.mkv"), "-o", path("missing/b.mkv")});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("output '" + path("missing/b.mkv") + "'"));
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("a.mkv"))) << "nothing was written";
}

}  // namespace
}  // namespace vpipe::test
