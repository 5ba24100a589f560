#include "decode/decoder.hpp"

extern "C" {
#include <libavdevice/version.h>
#include <libavutil/imgutils.h>
#include <libavutil/parseutils.h>
#include <libavutil/pixdesc.h>
}

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/memory.hpp"

namespace vpipe::decode {
namespace {

constexpr const char* kTestSources[] = {"testsrc", "testsrc2", "smptebars", "rgbtestsrc"};

bool has_option(const std::string& opts, const std::string& key) {
  return (":" + opts).find(":" + key + "=") != std::string::npos;
}

[[noreturn]] void input_error(const std::string& input, const std::string& cause) {
  const std::string detail = av::last_error_message();
  fail(ExitCode::kInput, "input '" + input + "': " + cause +
                             (detail.empty() || detail == cause ? "" : " (" + detail + ")"));
}

// A clearer message than libav's for the common file mistakes. A named pipe is waited on, for
// its first bytes, at most `timeout_s` (0: for ever): opening one blocks until a writer comes,
// where no --input-timeout would apply. The returned descriptor (-1 for anything else) keeps
// the pipe's reading end open until libav has opened it too: a writer never meets a pipe with
// no reader.
int check_local_file(const std::string& path, double timeout_s) {
  if (path.find("://") != std::string::npos || path.rfind("pipe:", 0) == 0) return -1;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) input_error(path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) input_error(path, "is a directory");
  if (S_ISREG(st.st_mode) && st.st_size == 0) input_error(path, "is empty (0 bytes)");
  if (!S_ISFIFO(st.st_mode)) return -1;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) input_error(path, std::strerror(errno));
  pollfd waiting{fd, POLLIN, 0};
  int ready = 0;
  do {
    ready = poll(&waiting, 1, timeout_s > 0 ? static_cast<int>(timeout_s * 1000) : -1);
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    ::close(fd);
    input_error(path, fmt::format("a named pipe nothing was written to for {:g} s "
                                  "(--input-timeout)",
                                  timeout_s));
  }
  return fd;
}

// The test source's "duration=" (lavfi does not report it), 0 when absent or unparsable.
double test_source_duration(const std::string& graph) {
  for (const char* key : {"duration=", "d="}) {
    const auto at = (":" + graph.substr(graph.find('=') + 1)).find(std::string(":") + key);
    if (at == std::string::npos) continue;
    const std::string rest = graph.substr(graph.find('=') + 1).substr(at + std::strlen(key));
    std::int64_t us = 0;
    if (av_parse_time(&us, rest.substr(0, rest.find(':')).c_str(), /*duration=*/1) == 0)
      return static_cast<double>(us) / 1e6;
  }
  return 0;
}

}  // namespace

bool is_test_source(const std::string& input) {
  const std::string head = input.substr(0, input.find(':'));
  for (const char* source : kTestSources) {
    if (head == source) return true;
  }
  return false;
}

InputInfo resolve_input(const std::string& input, const std::string& format) {
  InputInfo info;
  if (!format.empty()) {
    info.url = input == "-" ? "pipe:0" : input;
    info.format = format;
    return info;
  }
  const auto colon = input.find(':');
  const std::string head = input.substr(0, colon);
  for (const char* source : kTestSources) {
    if (head != source) continue;
    std::string opts = colon == std::string::npos ? "" : input.substr(colon + 1);
    if (!has_option(opts, "size") && !has_option(opts, "s")) opts += ":size=1280x720";
    if (!has_option(opts, "rate") && !has_option(opts, "r")) opts += ":rate=30";
    if (!has_option(opts, "duration") && !has_option(opts, "d")) opts += ":duration=5";
    if (opts.front() == ':') opts.erase(0, 1);
    info.url = head + "=" + opts;
    info.format = "lavfi";
    return info;
  }
  info.url = input == "-" ? "pipe:0" : input;
  if (input.rfind("/dev/video", 0) == 0) info.format = "v4l2";
  return info;
}

bool is_live_source(const InputInfo& info) {
  if (info.format == "v4l2" || info.format == "video4linux2" || info.format == "x11grab" ||
      info.format == "kmsgrab" || info.format == "fbdev")
    return true;
  for (const char* scheme : {"udp://", "rtp://", "rtsp://", "srt://", "rtmp://"}) {
    if (info.url.rfind(scheme, 0) == 0) return true;
  }
  return false;
}

// Input devices (the lavfi test source, v4l2 cameras, screen grabbers) live in libavdevice, which
// pulls in libavfilter and about 80 more libraries. It is loaded when an input names a format
// libavformat does not have, so that no other process pays its start-up (about 25 ms each).
static const AVInputFormat* find_input_format(const std::string& name) {
  if (const AVInputFormat* f = av_find_input_format(name.c_str())) return f;
  static const bool loaded = [] {
    void* lib =
        dlopen("libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR), RTLD_NOW | RTLD_GLOBAL);
    if (lib == nullptr) return false;
    auto register_all = reinterpret_cast<void (*)()>(dlsym(lib, "avdevice_register_all"));
    if (register_all == nullptr) return false;
    register_all();
    return true;
  }();
  return loaded ? av_find_input_format(name.c_str()) : nullptr;
}

namespace {

// Opens the container (its demuxer forced where `info.format` names one) with the user's
// demuxer options, which must all be known, and reads its stream information.
av::InputContextPtr open_container(const std::string& input, const InputInfo& info,
                                   const OpenSettings& settings) {
  const AVInputFormat* forced = nullptr;
  if (!info.format.empty()) {
    forced = find_input_format(info.format);
    if (forced == nullptr)
      input_error(input, "this FFmpeg build has no '" + info.format + "' input");
  }
  AVDictionary* opts = nullptr;
  // Network inputs must not hang forever on an unreachable host (invariant 7).
  if (info.url.find("://") != std::string::npos && settings.timeout_s > 0) {
    av_dict_set_int(&opts, "rw_timeout", static_cast<std::int64_t>(settings.timeout_s * 1e6), 0);
  }
  if (info.url.rfind("udp://", 0) == 0) {
    // A live stream arrives whether or not vpipe is ready: a large receive buffer, and a full
    // one loses old packets instead of failing the read.
    av_dict_set(&opts, "fifo_size", "1000000", 0);
    av_dict_set(&opts, "overrun_nonfatal", "1", 0);
    // udp reads through its own receive thread, which rw_timeout does not see.
    if (settings.timeout_s > 0)
      av_dict_set_int(&opts, "timeout", static_cast<std::int64_t>(settings.timeout_s * 1e6), 0);
  }
  for (const auto& [key, value] : settings.options)
    av_dict_set(&opts, key.c_str(), value.c_str(), 0);
  AVFormatContext* raw = nullptr;
  const int open_ret = avformat_open_input(&raw, info.url.c_str(), forced, &opts);
  std::string unused;
  const AVDictionaryEntry* left = nullptr;
  while ((left = av_dict_get(opts, "", left, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    if (settings.options.count(left->key))
      unused += std::string(unused.empty() ? "" : ", ") + left->key;
  }
  av_dict_free(&opts);
  if (open_ret >= 0 && !unused.empty()) {
    avformat_close_input(&raw);
    fail(ExitCode::kUsage, "input '" + input + "': the " + (forced ? forced->name : "input") +
                               " demuxer has no option(s): " + unused);
  }
  if (open_ret < 0) {
    input_error(input, open_ret == AVERROR_INVALIDDATA ? "not a recognised media file"
                                                       : av::error_text(open_ret));
  }
  av::InputContextPtr context(raw);
  const int info_ret = avformat_find_stream_info(raw, nullptr);
  if (info_ret < 0)
    input_error(input, "cannot read stream information: " + av::error_text(info_ret));
  return context;
}

// The video and audio streams -map asks for (-1: not named), and, without a video -map, the
// video stream with the most pixels (cover art aside), like the ffmpeg CLI.
std::pair<int, int> wanted_streams(const std::string& input, AVFormatContext* raw,
                                   const std::vector<std::string>& maps) {
  // -map: the first stream each specifier matches, by its type.
  int wanted_video = -1, wanted_audio = -1;
  for (const std::string& map : maps) {
    const std::string spec = map.rfind("0:", 0) == 0 ? map.substr(2) : map;
    int found = -1;
    for (unsigned i = 0; i < raw->nb_streams && found < 0; ++i) {
      const int m = avformat_match_stream_specifier(raw, raw->streams[i], spec.c_str());
      if (m < 0) fail(ExitCode::kUsage, "-map '" + map + "' is not a stream specifier like 0:v:1");
      if (m > 0) found = static_cast<int>(i);
    }
    if (found < 0) input_error(input, "has no stream matching -map " + map);
    const AVMediaType type = raw->streams[found]->codecpar->codec_type;
    if (type == AVMEDIA_TYPE_VIDEO) {
      wanted_video = found;
    } else if (type == AVMEDIA_TYPE_AUDIO) {
      wanted_audio = found;
    } else {
      fail(ExitCode::kUsage,
           "-map " + map + " names a " +
               (av_get_media_type_string(type) ? av_get_media_type_string(type) : "data") +
               " stream: vpipe carries one video and one audio stream");
    }
  }
  if (wanted_video < 0) {
    // Like the ffmpeg CLI: the video stream with the most pixels (cover art aside).
    std::int64_t most = 0;
    for (unsigned i = 0; i < raw->nb_streams; ++i) {
      const AVStream* st = raw->streams[i];
      if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
          (st->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0)
        continue;
      const std::int64_t pixels =
          static_cast<std::int64_t>(st->codecpar->width) * st->codecpar->height;
      if (pixels > most) {
        most = pixels;
        wanted_video = static_cast<int>(i);
      }
    }
  }
  return {wanted_video, wanted_audio};
}

// What the plan needs to know of the video stream: picture, timing, colour, rotation, tags.
void describe_video(const std::string& input, AVFormatContext* raw, AVStream* stream,
                    InputInfo& info) {
  const char* pix_name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(stream->codecpar->format));
  info.pix_fmt = pix_name != nullptr ? pix_name : "unknown";
  info.width = stream->codecpar->width;
  info.height = stream->codecpar->height;
  if (info.width <= 0 || info.height <= 0) input_error(input, "video stream has no picture size");
  info.time_base = stream->time_base;
  AVRational rate = av_guess_frame_rate(raw, stream, nullptr);
  if (rate.num <= 0 || rate.den <= 0) rate = AVRational{25, 1};
  info.frame_rate = rate;
  if (stream->duration != AV_NOPTS_VALUE) {
    info.duration_s = static_cast<double>(stream->duration) * av_q2d(stream->time_base);
  } else if (raw->duration != AV_NOPTS_VALUE) {
    info.duration_s = static_cast<double>(raw->duration) / AV_TIME_BASE;
  }
  if (info.duration_s <= 0 && info.format == "lavfi")
    info.duration_s = test_source_duration(info.url);
  info.nb_frames = stream->nb_frames > 0
                       ? stream->nb_frames
                       : static_cast<std::int64_t>(info.duration_s * av_q2d(rate) + 0.5);
  if (stream->start_time != AV_NOPTS_VALUE)
    info.start_time_s = static_cast<double>(stream->start_time) * av_q2d(stream->time_base);
  info.timeline_start_s = raw->start_time != AV_NOPTS_VALUE
                              ? static_cast<double>(raw->start_time) / AV_TIME_BASE
                              : info.start_time_s;
  // A stream without timestamps (raw H.264) cannot seek to a time (a generic seek reads to its
  // end looking for one): it is decoded up to it.
  info.seekable = info.format.empty() && raw->pb != nullptr &&
                  (raw->pb->seekable & AVIO_SEEKABLE_NORMAL) &&
                  stream->start_time != AV_NOPTS_VALUE;
  const AVPixFmtDescriptor* desc =
      av_pix_fmt_desc_get(static_cast<AVPixelFormat>(stream->codecpar->format));
  if (desc != nullptr) {
    info.bit_depth = desc->comp[0].depth;
    info.rgb = (desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) != 0;
  }
  info.sample_aspect_ratio = stream->sample_aspect_ratio.num > 0
                                 ? stream->sample_aspect_ratio
                                 : stream->codecpar->sample_aspect_ratio;
  info.color_range = stream->codecpar->color_range;
  info.color_primaries = stream->codecpar->color_primaries;
  info.color_trc = stream->codecpar->color_trc;
  info.colorspace = stream->codecpar->color_space;
  std::size_t matrix_size = 0;
  const std::uint8_t* matrix =
      av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &matrix_size);
  if (matrix != nullptr && matrix_size >= 9 * sizeof(std::int32_t)) {
    const auto* m = reinterpret_cast<const std::int32_t*>(matrix);
    info.display_matrix.assign(m, m + 9);
  }
  const AVDictionaryEntry* tag = nullptr;
  while ((tag = av_dict_get(raw->metadata, "", tag, AV_DICT_IGNORE_SUFFIX)) != nullptr)
    info.metadata[tag->key] = tag->value;
}

}  // namespace

Decoder Decoder::open(const std::string& input, const OpenSettings& settings) {
  Decoder d;
  d.info_ = resolve_input(input, settings.format);
  InputInfo& info = d.info_;
  const int fifo = info.format.empty() ? check_local_file(info.url, settings.timeout_s) : -1;
  struct CloseFifo {
    int fd;
    ~CloseFifo() {
      if (fd >= 0) ::close(fd);
    }
  } close_fifo{fifo};

  d.format_ = open_container(input, info, settings);
  AVFormatContext* raw = d.format_.get();
  const auto [wanted_video, wanted_audio] = wanted_streams(input, raw, settings.maps);

  const AVCodec* codec = nullptr;
  const int idx = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, wanted_video, -1, &codec, 0);
  if (idx == AVERROR_STREAM_NOT_FOUND) input_error(input, "has no video stream");
  if (idx < 0 || codec == nullptr) {
    input_error(input,
                "no decoder for its video stream (" +
                    std::string(idx >= 0 ? avcodec_get_name(raw->streams[idx]->codecpar->codec_id)
                                         : "unknown") +
                    ")");
  }
  AVStream* stream = raw->streams[idx];
  // The best audio stream is read too: a live input's audio can only be carried by decode.
  const int audio = av_find_best_stream(raw, AVMEDIA_TYPE_AUDIO, wanted_audio, idx, nullptr, 0);
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    if (static_cast<int>(i) != idx && static_cast<int>(i) != audio)
      raw->streams[i]->discard = AVDISCARD_ALL;
  }
  d.open_codec(stream, codec, settings.threads, input);

  info.container = raw->iformat->name;
  info.codec = codec->name;
  info.stream_index = idx;
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    if (raw->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE) ++info.subtitle_streams;
  }
  if (audio >= 0) {
    info.audio_stream_index = audio;
    info.audio_codec = avcodec_get_name(raw->streams[audio]->codecpar->codec_id);
    info.audio = av::AudioParams::of(raw->streams[audio]);
  }
  describe_video(input, raw, stream, info);
  d.packet_.reset(av_packet_alloc());
  d.frame_.reset(av_frame_alloc());
  d.error_lines_at_open_ = av::decoder_error_lines();
  d.repair_ = TimestampRepair(d.format_.get());
  d.live_network_ = is_live_source(info) && info.url.find("://") != std::string::npos;
  d.timeout_s_ = settings.timeout_s;
  return d;
}

void Decoder::open_codec(const AVStream* stream, const AVCodec* codec, int threads,
                         const std::string& input) {
  codec_.reset(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(codec_.get(), stream->codecpar);
  codec_->pkt_timebase = stream->time_base;
  codec_->thread_count = threads;
  if ((codec->capabilities & AV_CODEC_CAP_DR1) != 0) {
    codec_->opaque = hook_.get();
    codec_->get_buffer2 = &Decoder::get_buffer;
  }
  const int ret = avcodec_open2(codec_.get(), codec, nullptr);
  fail_if_out_of_memory(ret, "the " + std::string(codec->name) + " decoder");
  if (ret < 0) {
    input_error(input,
                "cannot open the " + std::string(codec->name) + " decoder: " + av::error_text(ret));
  }
  threads_ = threads;
}

void Decoder::set_threads(int threads) {
  if (threads == threads_ || decoded_) return;
  open_codec(format_->streams[info_.stream_index], codec_->codec, threads, info_.url);
}

// Sends one packet (or the flush packet at the end). False once nothing more can be sent.
bool Decoder::feed_packet() {
  if (flushed_) return false;
  if (!reading_) {
    // A stop: what the decoder holds back to reorder is not drained. Those pictures come after
    // frames whose packets were never read (the B-frames before an anchor, in display order),
    // so the output stays a clean prefix of the input.
    flushed_ = true;
    return false;
  }
  AVPacket* pkt = packet_.get();
  for (;;) {
    int ret = av_read_frame(format_.get(), pkt);
    if (ret < 0) {
      if (ret != AVERROR_EOF && live_network_ &&
          (ret == AVERROR(EIO) || ret == AVERROR(ETIMEDOUT) || ret == AVERROR_EXIT)) {
        spdlog::info("input '{}': no data for {} s: the stream has ended", info_.url, timeout_s_);
      } else if (ret != AVERROR_EOF) {
        ++errors_;
        spdlog::warn("input '{}': read error, ending the stream: {}", info_.url,
                     av::error_text(ret));
      }
      avcodec_send_packet(codec_.get(), nullptr);
      flushed_ = true;
      return true;
    }
    if (pkt->stream_index != info_.stream_index) {
      if (pkt->stream_index == info_.audio_stream_index && audio_sink_) {
        repair_.fix(pkt, format_->streams[pkt->stream_index]);
        audio_sink_(*pkt);
      }
      av_packet_unref(pkt);
      continue;
    }
    repair_.fix(pkt, format_->streams[pkt->stream_index]);
    decoded_ = true;
    ret = avcodec_send_packet(codec_.get(), pkt);
    av_packet_unref(pkt);
    if (ret < 0 && ret != AVERROR(EAGAIN)) count_error(ret, "decoder rejected a packet");
    return true;
  }
}

bool Decoder::seek(double seconds) {
  return seek_to(-1, static_cast<std::int64_t>(seconds * AV_TIME_BASE));
}

bool Decoder::seek_pts(std::int64_t pts) {
  return seek_to(info_.stream_index, pts);
}

bool Decoder::seek_to(int stream_index, std::int64_t ts) {
  if (!info_.seekable) return false;
  if (avformat_seek_file(format_.get(), stream_index, INT64_MIN, ts, ts, 0) < 0) return false;
  avcodec_flush_buffers(codec_.get());
  repair_.reset();
  return true;
}

void Decoder::count_error(int averror, const char* what) {
  fail_if_out_of_memory(averror, std::string("the ") + codec_->codec->name + " decoder");
  ++errors_;
  spdlog::debug("{}: {}", what, av::error_text(averror));
}

AVFrame* Decoder::next_frame() {
  for (;;) {
    av_frame_unref(frame_.get());
    const int ret = avcodec_receive_frame(codec_.get(), frame_.get());
    if (ret == 0) return frame_.get();
    if (ret == AVERROR_EOF) return nullptr;
    if (ret != AVERROR(EAGAIN)) count_error(ret, "decoder error");
    if (!feed_packet()) return nullptr;
  }
}

int Decoder::get_buffer(AVCodecContext* codec, AVFrame* frame, int flags) {
  auto* hook = static_cast<AllocatorHook*>(codec->opaque);
  if (FrameAllocator* allocator = hook->allocator.load(std::memory_order_acquire)) {
    if (allocator->get_buffer(codec, frame) >= 0) return 0;
  }
  return avcodec_default_get_buffer2(codec, frame, flags);
}

void Decoder::release_pictures() {
  frame_.reset();
  codec_.reset();
  hook_->allocator.store(nullptr);
}

DecodedLayout decoded_layout(AVCodecContext* codec, int width, int height) {
  // As libavcodec's own frame pool lays pictures out (update_frame_pool in decode.c): the size
  // aligned for the codec, lines widened until every plane's line is aligned, and each plane
  // padded, here all in one buffer with 64-byte aligned planes.
  DecodedLayout layout;
  int w = width, h = height;
  int align[AV_NUM_DATA_POINTERS];
  avcodec_align_dimensions2(codec, &w, &h, align);
  const auto format = codec->pix_fmt;
  for (;;) {
    if (av_image_fill_linesizes(layout.linesize, format, w) < 0) return {};
    bool aligned = true;
    for (int i = 0; i < 4; ++i)
      aligned = aligned && align[i] > 0 && layout.linesize[i] % align[i] == 0;
    if (aligned) break;
    w += w & ~(w - 1);  // the next alignment up
  }
  std::size_t sizes[4] = {0, 0, 0, 0};
  if (av_image_fill_plane_sizes(
          sizes, format, h,
          std::array<std::ptrdiff_t, 4>{layout.linesize[0], layout.linesize[1], layout.linesize[2],
                                        layout.linesize[3]}
              .data()) < 0)
    return {};
  constexpr std::size_t kAlign = 64,
                        kPadding = 16 + 64;  // libavcodec's pool adds 16 + STRIDE_ALIGN - 1
  std::size_t at = 0;
  for (int i = 0; i < 4 && sizes[i] > 0; ++i) {
    layout.offset[i] = at;
    at = (at + sizes[i] + kPadding + kAlign - 1) / kAlign * kAlign;
  }
  layout.bytes = at;
  return layout;
}

std::size_t decoded_picture_bytes(const std::string& codec_name, int width, int height) {
  const AVCodec* codec = avcodec_find_decoder_by_name(codec_name.c_str());
  if (codec == nullptr || (codec->capabilities & AV_CODEC_CAP_DR1) == 0) return 0;
  av::CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) return 0;
  context->pix_fmt = AV_PIX_FMT_YUV420P;
  return decoded_layout(context.get(), (width + 15) / 16 * 16, (height + 15) / 16 * 16).bytes;
}

}  // namespace vpipe::decode
