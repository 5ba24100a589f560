#include "common/av.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace vpipe::av {

std::string error_text(int averror) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(averror, buf, sizeof(buf));
  return buf;
}

namespace {
bool g_quiet = false;
thread_local int t_quiet = 0;
thread_local std::string t_last_error;

// Repeats of a warning (a damaged input can give thousands): the first is logged, the rest are
// counted per kind (the text with its numbers and addresses taken out) and logged as one line at
// most once a second. At debug level every line is logged. libav logs from its own threads too.
class RepeatSummary {
 public:
  // Whether `text` is logged now; if not, it was counted.
  bool admit(const std::string& text) {
    const std::string kind = kind_of(text);
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> due;
    bool first = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      Kind& k = kinds_[kind];
      first = k.seen++ == 0;
      if (!first) {
        ++k.pending;
        k.last = text;
      }
      if (now - last_flush_ >= std::chrono::seconds(1)) {
        last_flush_ = now;
        due = take_pending();
      }
    }
    for (const std::string& line : due) spdlog::warn("{}", line);
    return first;
  }
  // Logs what is still counted (at the end of a stage).
  void flush() {
    std::vector<std::string> due;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      due = take_pending();
    }
    for (const std::string& line : due) spdlog::warn("{}", line);
  }

 private:
  struct Kind {
    std::uint64_t seen = 0;
    std::uint64_t pending = 0;  // counted, not yet logged
    std::string last;
  };
  // The text with runs of digits (and hexadecimal addresses) as '#'.
  static std::string kind_of(const std::string& text) {
    std::string kind;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 2, "0x") == 0) {
        kind += '#';
        i += 2;
        while (i < text.size() && std::isxdigit(static_cast<unsigned char>(text[i]))) ++i;
        --i;
      } else if (std::isdigit(static_cast<unsigned char>(text[i]))) {
        if (kind.empty() || kind.back() != '#') kind += '#';
      } else {
        kind += text[i];
      }
    }
    return kind;
  }
  std::vector<std::string> take_pending() {
    std::vector<std::string> lines;
    for (auto& [kind, k] : kinds_) {
      if (k.pending == 0) continue;
      lines.push_back("libav: " + std::to_string(k.pending) + " more like: " + k.last);
      k.pending = 0;
    }
    return lines;
  }
  std::mutex mutex_;
  std::map<std::string, Kind> kinds_;
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
};

RepeatSummary& repeats() {
  static RepeatSummary summary;
  return summary;
}

std::atomic<std::uint64_t> g_decoder_errors{0};
thread_local HeldLogs* t_held = nullptr;

void log_line(int level, const std::string& text) {
  if (g_quiet || t_quiet > 0) {
    spdlog::debug("libav: {}", text);
    return;
  }
  // Errors are logged as warnings: the stage that sees the failing call decides if it is fatal.
  if (level <= AV_LOG_WARNING) {
    if (spdlog::get_level() > spdlog::level::debug && !repeats().admit(text)) return;
    spdlog::warn("libav: {}", text);
  } else if (level <= AV_LOG_INFO) {
    spdlog::debug("libav: {}", text);
  } else {
    spdlog::trace("libav: {}", text);
  }
}

// libav's "[libx264 @ 0x55d0...] " context prefix, taken off: the user knows which it is.
std::string without_context(const std::string& text) {
  const auto bracket = text.find("] ");
  return text[0] == '[' && bracket != std::string::npos ? text.substr(bracket + 2) : text;
}

void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  if (level <= AV_LOG_ERROR && avcl != nullptr) {
    const AVClass* cls = *static_cast<const AVClass**>(avcl);
    if (cls != nullptr &&
        (cls->get_category != nullptr ? cls->get_category(avcl) : cls->category) ==
            AV_CLASS_CATEGORY_DECODER)
      g_decoder_errors.fetch_add(1, std::memory_order_relaxed);
  }
  if (level > AV_LOG_ERROR && level > av_log_get_level()) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  if (level <= AV_LOG_ERROR) {
    t_last_error = without_context(text);
  }
  if (HeldLogs::held(level, text)) return;
  log_line(level, text);
}
}  // namespace

QuietLogs::QuietLogs() {
  ++t_quiet;
  t_last_error.clear();  // what the trial logs is its answer, not an older error
}

QuietLogs::~QuietLogs() {
  --t_quiet;
}

HeldLogs::HeldLogs() : outer_(std::exchange(t_held, this)) {}

HeldLogs::~HeldLogs() {
  t_held = outer_;
  for (const Line& line : lines_) spdlog::debug("libav: {}", line.text);
}

void HeldLogs::release() {
  for (const Line& line : std::exchange(lines_, {})) log_line(line.level, line.text);
}

std::string HeldLogs::last_error() const {
  for (auto line = lines_.rbegin(); line != lines_.rend(); ++line) {
    if (line->level > AV_LOG_ERROR) continue;
    std::string text = without_context(line->text);
    if (text.ends_with('.')) text.pop_back();  // it ends a clause of vpipe's line
    return text;
  }
  return {};
}

bool HeldLogs::held(int level, const std::string& text) {
  if (t_held == nullptr || level > AV_LOG_WARNING) return false;
  t_held->lines_.push_back({level, text});
  return true;
}

std::uint64_t decoder_error_lines() {
  return g_decoder_errors.load(std::memory_order_relaxed);
}

std::string last_error_message() {
  return t_last_error;
}

void flush_repeated_logs() {
  repeats().flush();
}

void route_logs_to_spdlog(bool quiet) {
  g_quiet = quiet;
  av_log_set_level(spdlog::get_level() <= spdlog::level::debug ? AV_LOG_INFO : AV_LOG_WARNING);
  av_log_set_callback(log_callback);
}

AudioParams AudioParams::of(const AVStream* stream) {
  const AVCodecParameters* par = stream->codecpar;
  AudioParams a;
  a.codec_id = par->codec_id;
  a.format = par->format;
  a.bit_rate = par->bit_rate;
  a.sample_rate = par->sample_rate;
  a.channels = par->ch_layout.nb_channels;
  if (par->ch_layout.order == AV_CHANNEL_ORDER_NATIVE) a.channel_mask = par->ch_layout.u.mask;
  a.frame_size = par->frame_size;
  a.block_align = par->block_align;
  a.initial_padding = par->initial_padding;
  a.profile = par->profile;
  if (par->extradata != nullptr && par->extradata_size > 0)
    a.extradata.assign(reinterpret_cast<const char*>(par->extradata), par->extradata_size);
  a.time_base = stream->time_base;
  return a;
}

void AudioParams::fill(AVCodecParameters* par) const {
  par->codec_type = AVMEDIA_TYPE_AUDIO;
  par->codec_id = static_cast<AVCodecID>(codec_id);
  par->format = format;
  par->bit_rate = bit_rate;
  par->sample_rate = sample_rate;
  av_channel_layout_uninit(&par->ch_layout);
  if (channel_mask != 0) {
    av_channel_layout_from_mask(&par->ch_layout, channel_mask);
  } else {
    av_channel_layout_default(&par->ch_layout, channels);
  }
  par->frame_size = frame_size;
  par->block_align = block_align;
  par->initial_padding = initial_padding;
  par->profile = profile;
  av_freep(&par->extradata);
  par->extradata_size = 0;
  if (!extradata.empty()) {
    par->extradata =
        static_cast<std::uint8_t*>(av_mallocz(extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
    std::memcpy(par->extradata, extradata.data(), extradata.size());
    par->extradata_size = static_cast<int>(extradata.size());
  }
}

}  // namespace vpipe::av
