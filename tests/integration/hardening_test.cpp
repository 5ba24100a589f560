// Hostile conditions end to end: damaged streams, dead or silent network peers, outputs that
// cannot be created or fill the disk, many runs at once, another user poking at a run's shared
// memory, undecodable codecs and nonsense numbers. Each case checks the exit code, exactly one
// `vpipe: error:` line where an error is expected, no crash, no hang and no run segment left.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/media.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A loopback TCP socket bound to an ephemeral port; returns the fd (or -1) and sets `port`.
int bind_loopback(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// A server on 127.0.0.1 that accepts connections and never sends a byte; stopped on destruction.
class SilentServer {
 public:
  SilentServer() {
    listen_fd_ = bind_loopback(port_);
    if (listen_fd_ < 0 || listen(listen_fd_, 8) != 0) return;
    thread_ = std::thread([this] { serve(); });
  }
  ~SilentServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : accepted_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  [[nodiscard]] bool ok() const { return thread_.joinable(); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int accepted() const { return accepted_count_.load(); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        accepted_.push_back(fd);  // held open, never written to
        ++accepted_count_;
      }
    }
  }
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_count_{0};
  std::vector<int> accepted_;  // touched by the server thread only until it is joined
  std::thread thread_;
};

// SIGKILLs started runs (each one's whole process group) however the test ends.
struct RunGuard {
  std::vector<pid_t> pids;
  RunGuard() = default;
  explicit RunGuard(pid_t pid) : pids{pid} {}
  RunGuard(const RunGuard&) = delete;
  RunGuard& operator=(const RunGuard&) = delete;
  ~RunGuard() {
    for (const pid_t pid : pids) {
      if (!is_alive(pid)) continue;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      wait_vpipe(pid, 10);
    }
  }
};

// Pids of the processes that map a vpipe run segment (what processes_holding_run_segments counts).
std::set<pid_t> run_segment_holders() {
  std::set<pid_t> holders;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry.path().filename().c_str()));
    if (pid <= 0) continue;
    if (read_file(entry.path().string() + "/maps").find("memfd:vpipe-run") != std::string::npos) {
      holders.insert(pid);
    }
  }
  return holders;
}

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    // On a shared machine another user's run may already be going: only new holders count.
    before_ = run_segment_holders();
  }
  void TearDown() override {
    // Stages die with the scheduler (PDEATHSIG), which is asynchronous: give them a moment.
    const auto deadline = Clock::now() + 5s;
    std::string left;
    do {
      left.clear();
      for (const pid_t pid : run_segment_holders()) {
        if (before_.count(pid) == 0) left += " " + std::to_string(pid) + " (" + comm_of(pid) + ")";
      }
      if (!left.empty()) std::this_thread::sleep_for(20ms);
    } while (!left.empty() && Clock::now() < deadline);
    EXPECT_EQ(left, "") << "processes still holding a run segment";
    if (!mounted_.empty() && umount2(mounted_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << mounted_ << ": " << std::strerror(errno);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Runs vpipe, expects exactly one stderr line "vpipe: error: ..." containing `needle`, exit
  // `code`, all within `limit_s`. Returns stderr.
  std::string expect_error(const std::vector<std::string>& args, int code,
                           const std::string& needle, int limit_s = 30) {
    const auto start = Clock::now();
    const RunResult r = run_vpipe(args, limit_s);
    const double took = seconds_since(start);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, StartsWith("vpipe: error:"));
    EXPECT_THAT(r.err, HasSubstr(needle));
    EXPECT_LT(took, limit_s) << r.err;
    return r.err;
  }

  // Overwrites three 4 KiB stretches (at 1/3, 1/2 and 2/3 of the file) with seeded noise.
  // Starts a 20 s run, waits with `until_signal(pid)`, sends SIGTERM: the run stops (exit 255,
  // "stopped by a signal"), and a file it left holds frames. Returns its stderr.
  std::string stop_while_starting(const std::function<void(pid_t)>& until_signal) {
    const pid_t pid =
        start_vpipe({"run", "-y", "-i", "testsrc:size=320x240:duration=20", "-o", path("out.mkv")},
                    path("early"));
    until_signal(pid);
    kill(pid, SIGTERM);
    const int code = wait_vpipe(pid, 30);
    const std::string err = read_file(path("early.err"));
    EXPECT_EQ(code, 255) << err;
    EXPECT_THAT(err, HasSubstr("stopped by a signal")) << err;
    if (std::filesystem::exists(path("out.mkv"))) {
      EXPECT_GT(decode_video(path("out.mkv")).nb_frames(), 0u) << "a file left holds frames";
    }
    std::filesystem::remove(path("out.mkv"));
    return err;
  }

  // 10 s of 320x240 H.264 in MPEG-TS with three 4 KiB runs of random bytes.
  std::string damaged_h264_ts() {
    const std::string input = path("damaged.ts");
    EXPECT_EQ(
        shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=duration=10:size=320x240:rate=30 "
              "-c:v libx264 -preset veryfast -g 30 '" +
              input + "'"),
        0);
    corrupt_middle(input, 1);
    return input;
  }

  void corrupt_middle(const std::string& file, unsigned seed) const {
    std::string data = read_file(file);
    ASSERT_GT(data.size(), 64u * 1024);
    std::mt19937 rng(seed);
    for (const std::size_t at : {data.size() / 3, data.size() / 2, data.size() * 2 / 3}) {
      for (std::size_t i = 0; i < 4096; ++i) data[at + i] = static_cast<char>(rng());
    }
    std::ofstream(file, std::ios::binary | std::ios::trunc) << data;
  }

  // The number of frames the ffmpeg CLI decodes from `file` (re-encoded losslessly, then counted).
  std::size_t ffmpeg_frame_count(const std::string& file) {
    const std::string ref = path("ffmpeg-ref.mkv");
    EXPECT_EQ(shell("ffmpeg -nostdin -v quiet -y -i '" + file + "' -vsync passthrough -c:v ffv1 '" +
                    ref + "'"),
              0);
    return decode_video(ref).nb_frames();
  }

  // A damaged stream decodes to (nearly) every frame ffmpeg gets, with exit 0 and a summary
  // that says damaged packets were skipped.
  void expect_damaged_stream_survives(const std::string& input) {
    const std::size_t reference = ffmpeg_frame_count(input);
    ASSERT_GT(reference, 100u);
    const std::string out = path("out.mkv");
    const RunResult r = run_vpipe({"run", "-i", input, "-o", out, "-c:v", "ffv1"}, 60);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("vpipe: error:")));
    EXPECT_THAT(r.err, HasSubstr("damaged input packets skipped")) << r.err;
    const DecodedVideo video = decode_video(out);
    EXPECT_GE(video.nb_frames() * 10, reference * 9)
        << video.nb_frames() << " frames from vpipe, " << reference << " from ffmpeg";
  }

  std::string dir_;
  std::string mounted_;
  std::set<pid_t> before_;
};

// 1. Corrupted packets mid-way: the run goes on and says so.

TEST_F(HardeningTest, CorruptedH264TransportStreamIsDecodedAroundTheDamage) {
  const std::string input = damaged_h264_ts();
  expect_damaged_stream_survives(input);
}

// The count of damaged packets is the same on every run of the same input: it used to come from
// the decoder's per-frame error flags, which its frame threads set late or not at all (0, 1 or 2
// for this input on 2 cores).
TEST_F(HardeningTest, TheDamageCountIsTheSameOnEveryRun) {
  const std::string input = damaged_h264_ts();
  std::set<std::string> counts;
  for (int run = 0; run < 6; ++run) {
    const RunResult r = run_vpipe({"run", "-y", "-i", input, "-o", "null"}, 60);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"((\d+) damaged input packets)"))) << r.err;
    counts.insert(m[1]);
  }
  EXPECT_EQ(counts.size(), 1u) << ::testing::PrintToString(counts);
}

// A badly damaged input repeats the same few libav warnings hundreds of times: each kind is
// logged once, then counted ("N more like: ...") at most once a second; --log-level debug shows
// every one. The input is read twice (decode, and encode for the audio): its demuxer's warnings
// are logged once.
TEST_F(HardeningTest, RepeatedLibavWarningsAreSummarised) {
  const std::string input = path("damaged.ts");
  ASSERT_EQ(shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration="
                  "20 -f lavfi -i sine=d=20 -c:v libx264 -g 30 -c:a aac '" +
                  input + "'"),
            0);
  std::string data = read_file(input);
  std::mt19937 rng(5);
  for (int k = 1; k <= 40; ++k) {
    for (std::size_t i = 0; i < 2000; ++i)
      data[data.size() * k / 42 + i] = static_cast<char>(rng());
  }
  std::ofstream(input, std::ios::binary | std::ios::trunc) << data;
  const RunResult plain = run_vpipe({"run", "-y", "-i", input, "-o", path("out.mkv")}, 60);
  const RunResult all =
      run_vpipe({"run", "-y", "-i", input, "-o", path("out.mkv"), "--log-level", "debug"}, 60);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const auto warnings = [](const std::string& err) {
    int n = 0;
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("[warning] libav:") != std::string::npos) ++n;
    }
    return n;
  };
  EXPECT_THAT(plain.err, HasSubstr("more like:"));
  EXPECT_LT(warnings(plain.err) * 2, warnings(all.err))
      << "summarised:\n"
      << plain.err << "\nevery one: " << warnings(all.err);
}

TEST_F(HardeningTest, CorruptedMpeg4AviIsDecodedAroundTheDamage) {
  const std::string input = path("damaged.avi");
  ASSERT_EQ(
      shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=duration=10:size=320x240:rate=30 "
            "-c:v mpeg4 -q:v 5 '" +
            input + "'"),
      0);
  corrupt_middle(input, 2);
  expect_damaged_stream_survives(input);
}

// 2. A refused connection fails fast, naming the input.

TEST_F(HardeningTest, RefusedUrlFailsFastWithInputError) {
  int port = 0;
  const int fd = bind_loopback(port);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  close(fd);  // bound and closed: nothing listens there now
  const std::string url = "tcp://127.0.0.1:" + std::to_string(port);
  const auto start = Clock::now();
  expect_error({"run", "-i", url, "-o", path("o.mkv")}, 3, "'" + url + "'", 10);
  EXPECT_LT(seconds_since(start), 5.0);
}

// 3. A server that accepts and never sends: bounded by vpipe's 10 s rw_timeout.

TEST_F(HardeningTest, SilentServerTimesOutWithInputError) {
  SilentServer server;
  ASSERT_TRUE(server.ok()) << std::strerror(errno);
  const std::string url = "tcp://127.0.0.1:" + std::to_string(server.port());
  expect_error({"run", "-i", url, "-o", path("o.mkv")}, 3, "'" + url + "'", 30);
  EXPECT_GE(server.accepted(), 1) << "vpipe never connected, so the timeout was not exercised";
}

// 4. An output that cannot be created (root may write anywhere, but not into /proc).

// A named pipe nobody writes to would block the open for ever: --input-timeout applies to it
// (before its first bytes); a writer that comes in time is read whole; a stop signal while it
// waits stops the run (exit 255, nothing written).
TEST_F(HardeningTest, ANamedPipeWithoutAWriterTimesOut) {
  const std::string fifo = path("in.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  expect_error({"run", "-i", fifo, "-o", path("out.mkv"), "--input-timeout", "1"}, 3,
               "a named pipe nothing was written to for 1 s (--input-timeout)", 10);
  EXPECT_FALSE(std::filesystem::exists(path("out.mkv")));

  const pid_t run = start_vpipe(
      {"run", "-q", "-i", fifo, "-o", path("late.mkv"), "-c:v", "ffv1", "--input-timeout", "20"},
      path("late"));
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=160x120:rate=25:"
                  "duration=2 -c:v mpeg4 -f matroska " +
                  fifo),
            0);
  EXPECT_EQ(wait_vpipe(run, 30), 0) << read_file(path("late.err"));
  EXPECT_EQ(decode_video(path("late.mkv")).nb_frames(), 50u);

  const pid_t stopped = start_vpipe({"run", "-i", fifo, "-o", path("none.mkv")}, path("stop"));
  std::this_thread::sleep_for(500ms);
  kill(stopped, SIGTERM);
  EXPECT_EQ(wait_vpipe(stopped, 10), 255) << read_file(path("stop.err"));
  EXPECT_THAT(read_file(path("stop.err")), HasSubstr("stopped by a signal (TERM) while the input"));
  EXPECT_FALSE(std::filesystem::exists(path("none.mkv")));
}

TEST_F(HardeningTest, OutputThatCannotBeCreatedIsAnOutputError) {
  expect_error({"run", "-i", "testsrc:size=320x240:duration=1", "-o", "/proc/vpipe-test.mp4"}, 4,
               "/proc/vpipe-test.mp4");
  EXPECT_FALSE(std::filesystem::exists("/proc/vpipe-test.mp4"));
}

// 5. The disk fills up mid-run.

TEST_F(HardeningTest, FullDiskIsAnOutputErrorAndDoesNotHang) {
  const std::string mnt = path("small");
  ASSERT_TRUE(std::filesystem::create_directory(mnt));
  if (mount("tmpfs", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=512k") != 0) {
    GTEST_SKIP() << "cannot mount a 512 KiB tmpfs: " << std::strerror(errno);
  }
  mounted_ = mnt;
  // About 9 MB of lossless 640x360: far more than fits.
  const std::string out = mnt + "/out.mkv";
  const std::string err =
      expect_error({"run", "-i", "testsrc:size=640x360:duration=5", "-c:v", "ffv1", "-o", out}, 4,
                   "'" + out + "'", 30);
  EXPECT_THAT(err, HasSubstr("No space left on device"));
  // With audio, into each container: the one line names the file (whichever stream's write
  // failed first), and what fitted is kept and plays: never an empty file.
  ASSERT_EQ(
      shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=6 "
            "-f lavfi -i sine=frequency=660:sample_rate=48000:duration=6 -c:v libx264 "
            "-preset veryfast -b:v 4M -c:a aac -shortest '" +
            path("av.mp4") + "'"),
      0);
  for (const std::string ext : {"mkv", "webm", "ts", "mp4"}) {
    SCOPED_TRACE(ext);
    for (const auto& f : std::filesystem::directory_iterator(mnt)) std::filesystem::remove(f);
    const std::string full = mnt + "/out." + ext;
    std::vector<std::string> args = {"run", "-q", "-i", path("av.mp4"), "-o", full};
    if (ext == "webm") args.insert(args.end(), {"-c:v", "libvpx", "-b:v", "4M"});
    const std::string text = expect_error(args, 4, "'" + full + "'", 60);
    EXPECT_THAT(text, HasSubstr("No space left on device"));
    EXPECT_EQ(count_lines(text), 1) << text;
    EXPECT_GT(decode_video(full).nb_frames(), 0u);
    // A stream copy too (WebM cannot hold the input's H.264 and AAC).
    if (ext == "webm") continue;
    std::filesystem::remove(full);
    const std::string copy_text = expect_error(
        {"run", "-q", "-i", path("av.mp4"), "-c", "copy", "-o", full}, 4, "'" + full + "'", 60);
    EXPECT_THAT(copy_text, HasSubstr("No space left on device"));
    EXPECT_GT(decode_video(full).nb_frames(), 0u) << "a full disk must not cost the copied part";
  }
  // Muxers that open their own files (HLS, DASH: segments and playlists) too; the ffmpeg CLI
  // ends these runs with exit 0 and empty files.
  for (const std::string format : {"hls", "dash"}) {
    SCOPED_TRACE(format);
    for (const auto& f : std::filesystem::directory_iterator(mnt)) std::filesystem::remove(f);
    const std::string playlist = mnt + (format == "hls" ? "/live.m3u8" : "/live.mpd");
    const std::string text =
        expect_error({"run", "-q", "-i", path("av.mp4"), "-f", format, "-o", playlist}, 4,
                     "'" + playlist + "'", 60);
    EXPECT_THAT(text, HasSubstr("No space left on device"));
  }
}

// A file-size limit (ulimit -f) fails the write that crosses it: an output error naming the
// file, or (below the run's shared memory, which counts too) a run error saying so; never a
// process killed by SIGXFSZ.
TEST_F(HardeningTest, AFileSizeLimitIsAnErrorLineNotAKillingSignal) {
  const auto limited = [&](int kib, const std::string& out) {
    const std::string err = path("err.txt");
    const int code = shell(
        "bash -c 'ulimit -f " + std::to_string(kib) + "; exec " + vpipe_binary() +
        " run -q -y -i testsrc:size=160x120:duration=10 -c:v rawvideo -o " + out + "' 2>" + err);
    return std::make_pair(code, read_file(err));
  };
  // 10 s of raw 160x120 is 8.6 MB; 4 MB may be written.
  const auto [code, err] = limited(4000, path("big.nut"));
  EXPECT_EQ(code, 4) << err;
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_THAT(err, HasSubstr("'" + path("big.nut") + "'"));
  EXPECT_THAT(err, HasSubstr("File too large"));
  // 64 KiB: less than the frames' shared memory.
  const auto [small_code, small_err] = limited(64, path("small.nut"));
  EXPECT_EQ(small_code, 1) << small_err;
  EXPECT_EQ(count_lines(small_err), 1) << small_err;
  EXPECT_THAT(small_err, HasSubstr("the file-size limit (ulimit -f) is 64 KiB"));
}

// Input timestamps that jump: transport streams spliced with a leap forward or back of hours (a
// restarted encoder), and a Matroska file whose timestamps go wild from its 75th packet. The
// ffmpeg CLI finishes each into MP4 with the input's length; so must vpipe, saying so once,
// not fail at the muxer ("Application provided duration ... is invalid") or keep the hours.
TEST_F(HardeningTest, InputTimestampsThatJumpAreRepairedBeforeTheMuxer) {
  ASSERT_EQ(
      shell("cd " + dir_ +
            " && ffmpeg -nostdin -v error -y -f lavfi "
            "-i testsrc2=size=320x240:rate=30:duration=4 -f lavfi "
            "-i sine=frequency=660:sample_rate=48000:duration=4 -c:v libx264 -preset veryfast "
            "-bf 3 -pix_fmt yuv420p -c:a aac -shortest in.mp4 && "
            "ffmpeg -nostdin -v error -y -i in.mp4 -c copy a.ts && "
            "ffmpeg -nostdin -v error -y -i in.mp4 -c copy -output_ts_offset 20000 b.ts && "
            "cat a.ts b.ts > forward.ts && cat b.ts a.ts > back.ts && "
            "ffmpeg -nostdin -v error -y -i in.mp4 -c copy -bsf:v \"setts="
            "pts=if(gte(N\\,75)\\,PTS+100000000000\\,PTS):"
            "dts=if(gte(N\\,75)\\,DTS+100000000000\\,DTS)\" wild.mkv"),
      0);
  const struct {
    std::string input;
    std::size_t frames;
    double seconds;
  } cases[] = {{"forward.ts", 240, 8}, {"back.ts", 240, 8}, {"wild.mkv", 120, 4}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const std::string out = path(c.input + ".mp4");
    const RunResult r = run_vpipe({"run", "-q", "-y", "-i", path(c.input), "-o", out}, 60);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    int said = 0;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);)
      said += line.find("s off at") != std::string::npos ||
              line.find("input timestamps jump by") != std::string::npos;
    EXPECT_EQ(said, 1) << r.err;
    EXPECT_NEAR(static_cast<double>(decode_video(out).nb_frames()), static_cast<double>(c.frames),
                3);
    for (const StreamInfo& st : probe_streams(out)) {
      SCOPED_TRACE(st.type);
      EXPECT_NEAR(st.duration_s, c.seconds, 0.25);
    }
  }
}

// An address-space limit (ulimit -v) that runs out while decoding, encoding or mapping the
// frames is "out of memory": one line naming where, exit 1. Never a success with frames missing,
// never blamed on the input (exit 3) or on the flags (exit 2), never a crash. Only the dynamic
// loader's own failure, below what vpipe needs to start at all, comes before (exit 127).
TEST_F(HardeningTest, AnAddressSpaceLimitIsOutOfMemoryNeverSuccessOrBlame) {
  ASSERT_EQ(
      shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=2 "
            "-c:v libx264 -preset veryfast -bf 3 -g 60 -pix_fmt yuv420p '" +
            path("in.mp4") + "'"),
      0);
  int out_of_memory = 0, done = 0;
  for (int kib = 250000; kib <= 520000; kib += 18000) {
    for (const std::string& out : {std::string("null"), path("out.mkv")}) {
      SCOPED_TRACE("ulimit -v " + std::to_string(kib) + " -o " + out);
      const std::string err = path("err.txt");
      const int code =
          shell("bash -c 'ulimit -v " + std::to_string(kib) + "; exec " + vpipe_binary() +
                " run -q -y -i " + path("in.mp4") + " -o " + out + "' 2>" + err);
      const std::string text = read_file(err);
      if (code == 127) {
        EXPECT_THAT(text, HasSubstr("error while loading shared libraries"));
        continue;
      }
      if (code == 0) {
        ++done;
        if (out != "null") {
          EXPECT_EQ(decode_video(out).nb_frames(), 60u) << text;
        }
        continue;
      }
      ++out_of_memory;
      EXPECT_EQ(code, 1) << text;
      int error_lines = 0;
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);)
        error_lines += line.starts_with("vpipe: error:");
      EXPECT_EQ(error_lines, 1) << text;
      // A library's own lines (x264's failed malloc, glibc's) are part of that line.
      EXPECT_THAT(text, Not(HasSubstr("x264 ["))) << text;
      EXPECT_THAT(text, Not(HasSubstr("Fatal glibc error"))) << text;
      EXPECT_THAT(text, HasSubstr("out of memory in ")) << text;
      EXPECT_THAT(text, HasSubstr("ulimit -v, is")) << text;
    }
  }
  // The sweep crosses from failing to finishing.
  EXPECT_GT(out_of_memory, 0);
  EXPECT_GT(done, 0);
}

// A stop signal at any moment from when vpipe can take one (its first step blocks them; the
// dynamic loader's few tens of milliseconds before are the kernel's) is a request to stop:
// never the signal's default action (exit 143 with no word), never an input error.
TEST_F(HardeningTest, AStopSignalWhileStartingStopsTheRunWithItsOwnExitCode) {
  const auto blocks_term = [](pid_t pid) {
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0)
        return (std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1) & 1) != 0;
    }
    return false;
  };
  for (const int delay_ms : {0, 10, 40, 80, 150}) {
    SCOPED_TRACE(std::to_string(delay_ms) + " ms after the signals are blocked");
    const std::string err = stop_while_starting([&](pid_t pid) {
      const auto give_up = Clock::now() + 10s;
      while (!blocks_term(pid) && is_alive(pid) && Clock::now() < give_up)
        std::this_thread::sleep_for(200us);
      EXPECT_TRUE(blocks_term(pid)) << "vpipe never blocked SIGTERM";
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    });
    EXPECT_THAT(err, Not(HasSubstr("error"))) << err;
  }
}

// The same at fixed times after the exec, while the libraries' initialisers and main's parsing
// run (tens of milliseconds): the stop signals are blocked before the first of them, so the
// signal still waits for the supervisor. Only the loader's mapping of the libraries (a few ms
// here) comes before that.
TEST_F(HardeningTest, AStopSignalDuringTheLibrariesStartStopsTheRunWithItsOwnExitCode) {
  for (const int delay_ms : {20, 35, 50, 70, 100}) {
    SCOPED_TRACE(std::to_string(delay_ms) + " ms after the exec");
    stop_while_starting(
        [&](pid_t) { std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms)); });
  }
  // Other commands handle stop signals themselves: `vpipe bench` is interrupted, not left to
  // finish with the signal pending.
  const pid_t listing = start_vpipe({"bench", "--quick", "--frames", "30"}, path("bench"));
  std::this_thread::sleep_for(300ms);
  kill(listing, SIGTERM);
  EXPECT_NE(wait_vpipe(listing, 30), 0) << read_file(path("bench.err"));
}

// 6. Ten runs at once share nothing: every one finishes with the same pictures.

TEST_F(HardeningTest, TenConcurrentRunsAllSucceedWithIdenticalOutput) {
  constexpr int kRuns = 10;
  RunGuard guard;
  std::vector<pid_t>& pids = guard.pids;
  for (int i = 0; i < kRuns; ++i) {
    const std::string n = std::to_string(i);
    pids.push_back(start_vpipe({"run", "-q", "-i", "testsrc2:size=320x240:duration=2", "-c:v",
                                "ffv1", "--workers", "2", "-o", path("out" + n + ".mkv")},
                               path("run" + n)));
  }
  std::vector<std::uint64_t> first;
  for (int i = 0; i < kRuns; ++i) {
    const std::string n = std::to_string(i);
    const int code = wait_vpipe(pids[i], 90);
    const std::string err = read_file(path("run" + n + ".err"));
    EXPECT_EQ(code, 0) << "run " << i << ": " << err;
    EXPECT_THAT(err, Not(HasSubstr("vpipe: error:"))) << "run " << i;
    if (code != 0) continue;
    const DecodedVideo video = decode_video(path("out" + n + ".mkv"));
    EXPECT_EQ(video.nb_frames(), 60u) << "run " << i;
    if (first.empty()) {
      first = video.checksums;
    } else {
      EXPECT_EQ(video.checksums, first) << "run " << i << " differs from the first";
    }
  }
  EXPECT_EQ(first.size(), 60u);
}

// 7. Another user cannot open a run's shared memory through /proc.

// In a child that has dropped to nobody, opens `file` O_RDWR. Returns 0 if it opened, the errno
// otherwise, or -1 if the child could not drop its privileges.
int open_as_nobody(const std::string& file) {
  const pid_t child = fork();
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(255);
    if (getuid() != 65534 || geteuid() != 65534) _exit(255);
    const int fd = open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) _exit(0);
    _exit(errno & 0x7f);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) return -1;
  return WEXITSTATUS(status);
}

TEST_F(HardeningTest, AnotherUserCannotOpenTheRunSegment) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another user";
  const pid_t parent = start_vpipe(
      {"run", "-q", "-i", "testsrc:size=640x360:duration=30", "--vf", "cv.gblur=8", "-o", "null"},
      path("slow"));
  const RunGuard guard(parent);

  // A stage process, one of its fds on the segment, and the segment's mapping.
  pid_t stage = 0;
  std::string fd_path;
  std::string map_path;
  const auto deadline = Clock::now() + 15s;
  while (stage == 0 && Clock::now() < deadline && is_alive(parent)) {
    for (const pid_t kid : children_of(parent)) {
      if (comm_of(kid).rfind("vpipe:", 0) != 0) continue;
      const std::string proc = "/proc/" + std::to_string(kid);
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd", ec)) {
        const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
        if (!ec && target.rfind("/memfd:vpipe-run", 0) == 0) fd_path = entry.path().string();
      }
      std::istringstream maps(read_file(proc + "/maps"));
      std::string line;
      while (std::getline(maps, line)) {
        if (line.find("memfd:vpipe-run") != std::string::npos) {
          map_path = proc + "/map_files/" + line.substr(0, line.find(' '));
          break;
        }
      }
      if (!fd_path.empty() && !map_path.empty()) {
        stage = kid;
        break;
      }
      fd_path.clear();
      map_path.clear();
    }
    if (stage == 0) std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(stage, 0) << "no stage with the run segment open appeared: "
                      << read_file(path("slow.err"));

  // Control: the owner (root) can open the fd path, so a refusal below is about the user.
  const int own = open(fd_path.c_str(), O_RDWR | O_CLOEXEC);
  EXPECT_GE(own, 0) << fd_path << ": " << std::strerror(errno);
  if (own >= 0) close(own);

  const int via_fd = open_as_nobody(fd_path);
  ASSERT_NE(via_fd, -1) << "could not drop to uid/gid 65534";
  EXPECT_TRUE(via_fd == EACCES || via_fd == EPERM)
      << fd_path << " as nobody: " << (via_fd == 0 ? "opened!" : std::strerror(via_fd));
  const int via_map = open_as_nobody(map_path);
  EXPECT_TRUE(via_map == EACCES || via_map == EPERM)
      << map_path << " as nobody: " << (via_map == 0 ? "opened!" : std::strerror(via_map));
  EXPECT_TRUE(is_alive(parent)) << "the run ended early: " << read_file(path("slow.err"));
}

// 8. A video stream no decoder in this FFmpeg build can read.

TEST_F(HardeningTest, UndecodableVideoCodecIsAnInputError) {
  const std::string mkv = path("h264.mkv");
  ASSERT_EQ(shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=duration=1:size=160x120 "
                  "-c:v libx264 -preset ultrafast '" +
                  path("h264.mp4") + "' && ffmpeg -nostdin -v error -y -i '" + path("h264.mp4") +
                  "' -c:v copy '" + mkv + "'"),
            0);
  std::string data = read_file(mkv);
  const std::string id = "V_MPEG4/ISO/AVC";
  const auto at = data.find(id);
  ASSERT_NE(at, std::string::npos);
  data.replace(at, id.size(), "V_XXXXX/ISO/AVC");  // same length: the EBML sizes stay valid
  const std::string unknown = path("unknown.mkv");
  std::ofstream(unknown, std::ios::binary) << data;
  expect_error({"run", "-i", unknown, "-o", path("o.mkv")}, 3, "no decoder");
}

// 9. Negative numbers are usage errors.

TEST_F(HardeningTest, NegativeWorkersIsAUsageError) {
  expect_error({"run", "-i", "testsrc:duration=1", "-o", path("o.mkv"), "--workers", "-3"}, 2,
               "--workers");
}

TEST_F(HardeningTest, NegativeWindowIsAUsageError) {
  expect_error({"run", "-i", "testsrc:duration=1", "-o", path("o.mkv"), "--window", "-5"}, 2,
               "--window");
}

}  // namespace
}  // namespace vpipe::test
