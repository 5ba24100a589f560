#include "encode/encoder.hpp"

extern "C" {
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/memory.hpp"
#include "encode/audio_copy.hpp"

namespace vpipe::encode {
namespace {

[[noreturn]] void output_error(const std::string& output, const std::string& cause) {
  // The run has failed: what libav says while the encoders and the file are closed is not news
  // (libopus: "frames left in the queue"); --log-level debug still shows it.
  av::route_logs_to_spdlog(/*quiet=*/true);
  fail(ExitCode::kOutput, "output '" + output + "': " + cause);
}

const AVCodec* find_encoder(const std::string& name) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
  if (codec == nullptr) {
    const AVCodecDescriptor* desc = avcodec_descriptor_get_by_name(name.c_str());
    if (desc != nullptr) codec = avcodec_find_encoder(desc->id);
  }
  if (codec == nullptr || codec->type != AVMEDIA_TYPE_VIDEO) {
    fail(ExitCode::kUsage, "video encoder '" + name + "' is not available in this FFmpeg build");
  }
  return codec;
}

const AVOutputFormat* find_muxer(const EncoderSettings& s) {
  const AVOutputFormat* fmt =
      av_guess_format(s.format.empty() ? nullptr : s.format.c_str(),
                      s.format.empty() ? s.output.c_str() : nullptr, nullptr);
  if (fmt == nullptr) {
    if (!s.format.empty()) fail(ExitCode::kUsage, "unknown output container '" + s.format + "'");
    fail(ExitCode::kUsage, "cannot tell the container from the name '" + s.output +
                               "': use a known extension (.mp4, .mkv, ...) or -f");
  }
  return fmt;
}

bool is_url(const std::string& s) {
  return s.find("://") != std::string::npos || s.rfind("pipe:", 0) == 0;
}

bool takes_pix_fmt(const AVCodec* codec, AVPixelFormat fmt) {
  for (const AVPixelFormat* p = codec->pix_fmts; p != nullptr && *p != AV_PIX_FMT_NONE; ++p) {
    if (*p == fmt) return true;
  }
  return false;
}

// -pix_fmt if given (checked against the encoder's list), else yuv420p or the encoder's
// nearest. x264 and x265 take 4:2:0 at even sizes only: an odd `width` x `height` (641x359)
// gets 4:4:4 instead, as the ffmpeg CLI gives them an RGB input.
AVPixelFormat choose_pix_fmt(const AVCodec* codec, const std::string& wanted, int width = 0,
                             int height = 0) {
  if (!wanted.empty()) {
    const AVPixelFormat fmt = av_get_pix_fmt(wanted.c_str());
    if (fmt == AV_PIX_FMT_NONE)
      fail(ExitCode::kUsage, "-pix_fmt '" + wanted + "' is not a pixel format");
    if (codec->pix_fmts != nullptr && !takes_pix_fmt(codec, fmt)) {
      std::string list;
      for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
        list += std::string(list.empty() ? "" : " ") + av_get_pix_fmt_name(*p);
      fail(ExitCode::kUsage, std::string("encoder ") + codec->name + " cannot take -pix_fmt " +
                                 wanted + " (it takes: " + list + ")");
    }
    return fmt;
  }
  if (codec->pix_fmts == nullptr) return AV_PIX_FMT_YUV420P;
  const std::string_view name = codec->name;
  if ((width % 2 != 0 || height % 2 != 0) && (name == "libx264" || name == "libx265")) {
    for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p) {
      if (*p != AV_PIX_FMT_YUV444P) continue;
      spdlog::info("{} takes 4:2:0 at even sizes only: {}x{} is encoded as yuv444p", name, width,
                   height);
      return *p;
    }
  }
  for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p) {
    if (*p == AV_PIX_FMT_YUV420P) return *p;
  }
  return avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, AV_PIX_FMT_YUV420P, 0, nullptr);
}

// Whether the muxer holds streams of `id`. Most say (avformat_query_codec); of those that do
// not, the multi-codec ones (MPEG-TS, PS, MXF, RTP) hold what they are given, as the ffmpeg CLI
// assumes, and the others (gif, apng, ogg, raw streams) only their own codecs.
bool muxer_holds(const AVOutputFormat* fmt, AVCodecID id) {
  static const std::set<std::string_view> kHoldAnyCodec = {
      "mpegts", "rtp_mpegts", "rtp", "rtsp", "sap",      "mpeg",           "vob",
      "dvd",    "mxf",        "crc", "md5",  "framecrc", "framemd5",       "framehash",
      "hash",   "streamhash", "hls", "dash", "segment",  "stream_segment", "tee",
      "null"};
  const int says = avformat_query_codec(fmt, id, FF_COMPLIANCE_NORMAL);
  if (says > 0) return true;
  // Matroska holds any audio with a WAVE tag (A_MS/ACM: AMR-NB from a phone's 3GP) and any video
  // with an AVI one (V_MS/VFW), as the ffmpeg CLI muxes them; it only says so below "normal"
  // compliance.
  if (says == 0 && std::string_view(fmt->name) == "matroska") {
    const AVCodecTag* const audio[] = {avformat_get_riff_audio_tags(), nullptr};
    const AVCodecTag* const video[] = {avformat_get_riff_video_tags(), nullptr};
    const AVMediaType type = avcodec_get_type(id);
    return (type == AVMEDIA_TYPE_AUDIO && av_codec_get_tag(audio, id) != 0) ||
           (type == AVMEDIA_TYPE_VIDEO && av_codec_get_tag(video, id) != 0);
  }
  if (says >= 0) return false;
  return kHoldAnyCodec.count(fmt->name) > 0 || id == fmt->video_codec || id == fmt->audio_codec;
}

// The muxer options every output of this container gets (MP4: fragmented unless -faststart;
// Matroska: a cluster a second).
AVDictionary* muxer_options(const EncoderSettings& s, const AVOutputFormat* fmt) {
  AVDictionary* opts = nullptr;
  if (std::string(fmt->name) == "mp4" || std::string(fmt->name) == "mov") {
    // Fragmented by default: if the process is killed, what was written so far still plays.
    // A fragment at least every second, each flushed to the file as it is written. The index
    // header waits for the first fragment (delay_moov), so it has the edit lists that start the
    // video and the audio together: without them, a B-frame encoder's delay starts the video
    // late (two frame intervals; seconds on a slow or variable frame rate).
    // The user's -movflags replace these (see plan_output: +faststart there is --faststart).
    if (s.muxer_options.count("movflags") == 0) {
      av_dict_set(
          &opts, "movflags",
          s.faststart ? "+faststart" : "+frag_keyframe+empty_moov+delay_moov+default_base_moof", 0);
      if (!s.faststart) av_dict_set(&opts, "frag_duration", "1000000", 0);
    }
  }
  if (std::string(fmt->name) == "image2" && s.output.find('%') == std::string::npos) {
    av_dict_set(&opts, "update", "1", 0);  // one file, not a numbered sequence
  }
  if (std::string(fmt->name) == "matroska" || std::string(fmt->name) == "webm") {
    // A cluster at least every second, so that a killed encode leaves what it wrote playable
    // (the muxer keeps the open cluster in memory: by default up to 5 s, or a whole short run).
    av_dict_set(&opts, "cluster_time_limit", "1000", 0);
  }
  for (const auto& [key, value] : s.muxer_options)
    av_dict_set(&opts, key.c_str(), value.c_str(), 0);
  return opts;
}

// Writes the header of an output holding only `stream` into memory, with the output's muxer
// options; libav's complaint, if it refuses, into `why`. Some refusals come only from the
// header: FLAC in MP4 (experimental), Opus in MOV.
bool header_takes(const EncoderSettings& s, const AVOutputFormat* fmt,
                  const AVCodecParameters* stream, std::string* why) {
  if ((fmt->flags & AVFMT_NOFILE) != 0) return true;  // RTSP and the like: not tried here
  AVFormatContext* raw = nullptr;
  if (avformat_alloc_output_context2(&raw, fmt, nullptr, nullptr) < 0) return false;
  const std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> mux(
      raw, [](AVFormatContext* m) {
        if (m->pb != nullptr) {
          std::uint8_t* bytes = nullptr;
          avio_close_dyn_buf(m->pb, &bytes);
          av_free(bytes);
        }
        avformat_free_context(m);
      });
  AVStream* st = avformat_new_stream(raw, nullptr);
  if (st == nullptr || avcodec_parameters_copy(st->codecpar, stream) < 0 ||
      avio_open_dyn_buf(&raw->pb) < 0)
    return false;
  st->codecpar->codec_tag = 0;
  st->time_base = {1, stream->sample_rate > 0 ? stream->sample_rate : 90000};
  AVDictionary* opts = muxer_options(s, fmt);
  const av::QuietLogs quiet;
  const int ret = avformat_write_header(raw, &opts);
  av_dict_free(&opts);
  if (ret < 0 && why != nullptr) {
    *why = av::last_error_message();
    if (why->empty()) *why = av::error_text(ret);
  }
  return ret >= 0;
}

// Whether the encoder's time base must be 1/fps (see Encoder::open).
bool needs_frame_rate_time_base(const AVCodec* codec, const AVOutputFormat* fmt) {
  static const std::set<std::string_view> kContainers = {"mxf", "mxf_d10", "mxf_opatom", "gxf",
                                                         "dv"};
  return codec->id == AV_CODEC_ID_MPEG1VIDEO || codec->id == AV_CODEC_ID_MPEG2VIDEO ||
         kContainers.count(fmt->name) != 0;
}

}  // namespace

bool is_single_image(const EncoderSettings& s) {
  const AVOutputFormat* fmt = find_muxer(s);
  return fmt != nullptr && std::string(fmt->name) == "image2" &&
         s.output.find('%') == std::string::npos;
}

std::string default_video_encoder(const EncoderSettings& s) {
  const AVOutputFormat* fmt = find_muxer(s);
  if (fmt != nullptr && std::string(fmt->name) == "image2") {
    // x.png: PNG, x.jpg: MJPEG, by the name, as ffmpeg.
    const AVCodec* image = avcodec_find_encoder(
        av_guess_codec(fmt, nullptr, s.output.c_str(), nullptr, AVMEDIA_TYPE_VIDEO));
    if (image != nullptr) return image->name;
  }
  const AVCodec* x264 = avcodec_find_encoder_by_name("libx264");
  if (x264 != nullptr && muxer_holds(fmt, AV_CODEC_ID_H264)) return x264->name;
  const AVCodec* own =
      fmt->video_codec != AV_CODEC_ID_NONE ? avcodec_find_encoder(fmt->video_codec) : nullptr;
  // With neither, libx264 still: validate() then says what the container cannot hold.
  return own != nullptr ? own->name : "libx264";
}

std::string default_audio_encoder(const EncoderSettings& s) {
  const AVOutputFormat* fmt = find_muxer(s);
  if (fmt->audio_codec == AV_CODEC_ID_NONE) return "";
  const AVCodec* codec = avcodec_find_encoder(fmt->audio_codec);
  return codec != nullptr ? codec->name : "";
}

bool audio_encoder_exists(const std::string& name) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
  return codec != nullptr && codec->type == AVMEDIA_TYPE_AUDIO;
}

bool container_accepts_encoder(const EncoderSettings& s, const std::string& encoder) {
  const AVCodec* codec = avcodec_find_encoder_by_name(encoder.c_str());
  return codec != nullptr && muxer_holds(find_muxer(s), codec->id);
}

bool container_accepts(const EncoderSettings& s, const AVCodecParameters* stream,
                       std::string* why) {
  const AVOutputFormat* fmt = find_muxer(s);
  if (!muxer_holds(fmt, stream->codec_id)) return false;
  // AAC with ADTS headers (from MPEG-TS) has no global header until the copy's bitstream
  // filter makes one: the muxer's word is enough there.
  if (stream->codec_id == AV_CODEC_ID_AAC && stream->extradata_size == 0) return true;
  return header_takes(s, fmt, stream, why);
}

void validate(const EncoderSettings& s) {
  const AVCodec* codec = find_encoder(s.codec);
  choose_pix_fmt(codec, s.pix_fmt);
  const AVOutputFormat* fmt = find_muxer(s);
  // Refused up front, as a usage error, like every other codec a container cannot hold: a GIF
  // or APNG muxer holds only its own codec, although it does not say.
  if (!muxer_holds(fmt, codec->id)) {
    fail(ExitCode::kUsage, "the " + std::string(fmt->name) + " container cannot hold " +
                               codec->name +
                               " video: choose another codec (-c:v) or container (-o NAME.mkv)");
  }
  // Muxers that open their own files (HLS, image sequences) are checked too: the folder must be
  // there, as libav would otherwise log a warning per segment and write nothing.
  if (is_url(s.output)) return;
  namespace fs = std::filesystem;
  const fs::path path(s.output);
  std::error_code ec;
  if (fs::is_directory(path, ec)) output_error(s.output, "is a directory");
  if (fs::exists(path, ec) && !s.overwrite)
    output_error(s.output, "already exists (use -y to overwrite)");
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    output_error(s.output, "folder '" + dir.string() + "' does not exist");
  if (access(dir.c_str(), W_OK) != 0)
    output_error(s.output, "folder '" + dir.string() + "' is not writable");
  // Created now (and removed), so that this fails before any process starts.
  if (const std::string why = cannot_write(s.output); !why.empty()) output_error(s.output, why);
}

bool keeps_rotation(const EncoderSettings& s) {
  static const std::set<std::string_view> kKeepsRotation = {"mp4",  "mov",  "3gp", "3g2",
                                                            "ipod", "ismv", "psp", "f4v"};
  const AVOutputFormat* fmt =
      av_guess_format(s.format.empty() ? nullptr : s.format.c_str(), s.output.c_str(), nullptr);
  return fmt != nullptr && kKeepsRotation.count(fmt->name) > 0;
}

std::vector<AVPixelFormat> frame_formats(const EncoderSettings& s, int width, int height) {
  const AVCodec* codec = find_encoder(s.codec);
  std::vector<AVPixelFormat> formats{choose_pix_fmt(codec, s.pix_fmt, width, height)};
  if (s.pix_fmt.empty() && formats[0] != AV_PIX_FMT_PAL8 && takes_pix_fmt(codec, AV_PIX_FMT_PAL8))
    formats.push_back(AV_PIX_FMT_PAL8);
  return formats;
}

namespace {

// The encoder's picture, timing and rate settings, from the stream and the user's settings.
void configure_codec(AVCodecContext* c, const AVCodec* codec, const AVOutputFormat* fmt,
                     const EncoderSettings& s, const StreamParams& params) {
  c->width = params.width;
  c->height = params.height;
  const auto given = static_cast<AVPixelFormat>(params.pix_fmt);
  // A graph's frames come in a format frame_formats() allowed: taken as they are.
  c->pix_fmt = given != AV_PIX_FMT_YUV420P && takes_pix_fmt(codec, given)
                   ? given
                   : choose_pix_fmt(codec, s.pix_fmt, params.width, params.height);
  c->framerate = params.frame_rate;
  c->sample_aspect_ratio =
      params.sample_aspect_ratio.num > 0 ? params.sample_aspect_ratio : AVRational{1, 1};
  c->color_range = static_cast<AVColorRange>(params.color_range);
  c->color_primaries = static_cast<AVColorPrimaries>(params.color_primaries);
  c->color_trc = static_cast<AVColorTransferCharacteristic>(params.color_trc);
  c->colorspace = static_cast<AVColorSpace>(params.colorspace);
  // Keep the input's time base so timestamps pass through exactly; MPEG-4 part 2 limits the
  // denominator to 16 bits, so fall back to 1/fps there. Theora counts frames (its Ogg granule
  // is a frame number), so it gets 1/fps always.
  // MPEG-1/2 video, and the broadcast containers (MXF, GXF, DV), take only a frame rate as
  // their time base, from the codec's list where it has one (the nearest, as the ffmpeg CLI
  // picks it: 15 fps becomes 24000/1001 for MPEG-2); VFR timing is put on that grid.
  c->time_base = params.time_base;
  if ((codec->id == AV_CODEC_ID_MPEG4 && c->time_base.den > 65535) ||
      codec->id == AV_CODEC_ID_THEORA || needs_frame_rate_time_base(codec, fmt)) {
    if (codec->supported_framerates != nullptr) {
      c->framerate = codec->supported_framerates[av_find_nearest_q_idx(
          c->framerate, codec->supported_framerates)];
    }
    c->time_base = av_inv_q(c->framerate);
  }
  c->thread_count = s.threads;
  if (s.gop) c->gop_size = *s.gop;
  if (s.bitrate) c->bit_rate = *s.bitrate;
  if (fmt->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (codec->id == AV_CODEC_ID_MJPEG) c->color_range = AVCOL_RANGE_JPEG;
}

// The encoder's private options: preset, CRF (or a fixed quantiser) and the user's own.
AVDictionary* codec_options(AVCodecContext* c, const AVCodec* codec, const EncoderSettings& s) {
  AVDictionary* opts = nullptr;
  if (!s.preset.empty()) {
    if (av_opt_find(c->priv_data, "preset", nullptr, 0, 0) != nullptr) {
      av_dict_set(&opts, "preset", s.preset.c_str(), 0);
    } else {
      spdlog::warn("encoder {} has no presets; --preset {} ignored", codec->name, s.preset);
    }
  }
  if (s.crf) {
    if (av_opt_find(c->priv_data, "crf", nullptr, 0, 0) != nullptr) {
      av_dict_set_int(&opts, "crf", *s.crf, 0);
    } else {
      // Codecs without CRF (mpeg4, mjpeg) take a fixed quantiser instead.
      c->flags |= AV_CODEC_FLAG_QSCALE;
      c->global_quality = FF_QP2LAMBDA * *s.crf;
    }
  }
  for (const auto& [key, value] : s.codec_options)
    av_dict_set(&opts, key.c_str(), value.c_str(), 0);
  // Some encoder libraries print banners straight to stderr: keep them to errors unless the user
  // chose otherwise.
  if (std::string(codec->name) == "libx265" && !s.codec_options.count("x265-params"))
    av_dict_set(&opts, "x265-params", "log-level=error", 0);
  if (std::string(codec->name) == "libsvtav1") setenv("SVT_LOG", "1", /*overwrite=*/0);
  return opts;
}

// Opens the encoder with `opts` (freed here): a refusal, or an option no part of it took, is a
// usage error with the encoder's own reason.
void open_codec(AVCodecContext* c, const AVCodec* codec, AVDictionary* opts,
                const StreamParams& params) {
  int ret = 0;
  std::string open_refusal;
  {
    // A refusal is one error line with the encoder's own reason, not a warning before it.
    av::HeldLogs held;
    ret = avcodec_open2(c, codec, &opts);
    if (ret >= 0) held.release();
    open_refusal = held.last_error();
  }
  std::string unused;
  AVDictionaryEntry* entry = nullptr;
  while ((entry = av_dict_get(opts, "", entry, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    unused += std::string(unused.empty() ? "" : ", ") + entry->key;
  }
  av_dict_free(&opts);
  if (ret < 0) {
    fail_if_out_of_memory(ret, "the " + std::string(codec->name) + " encoder");
    fail(ExitCode::kUsage, "cannot open encoder " + std::string(codec->name) + " for " +
                               std::to_string(params.width) + "x" + std::to_string(params.height) +
                               ": " + (open_refusal.empty() ? av::error_text(ret) : open_refusal));
  }
  if (!unused.empty())
    fail(ExitCode::kUsage, "encoder " + std::string(codec->name) + " has no option(s): " + unused);
}

}  // namespace

std::unique_ptr<Encoder> Encoder::open(const EncoderSettings& s, const StreamParams& params,
                                       std::unique_ptr<AudioTrack> audio) {
  std::unique_ptr<Encoder> e(new Encoder());
  e->audio_ = std::move(audio);
  e->settings_ = s;
  e->input_time_base_ = params.time_base;
  const AVCodec* codec = find_encoder(s.codec);
  e->codec_name_ = codec->name;
  const AVOutputFormat* fmt = find_muxer(s);
  int ret = avformat_alloc_output_context2(&e->mux_, fmt, nullptr, s.output.c_str());
  if (ret < 0) output_error(s.output, av::error_text(ret));

  e->codec_.reset(avcodec_alloc_context3(codec));
  AVCodecContext* c = e->codec_.get();
  configure_codec(c, codec, fmt, s, params);
  const auto given = static_cast<AVPixelFormat>(params.pix_fmt);

  open_codec(c, codec, codec_options(c, codec, s), params);

  if (c->pix_fmt != given) {
    spdlog::info("encoder {} takes {}: converting from {}", codec->name,
                 av_get_pix_fmt_name(c->pix_fmt), av_get_pix_fmt_name(given));
    e->converted_.reset(av_frame_alloc());
    e->converted_->format = c->pix_fmt;
    e->converted_->width = c->width;
    e->converted_->height = c->height;
    if (av_frame_get_buffer(e->converted_.get(), 0) < 0)
      fail_out_of_memory("the pixel format conversion");
    e->sws_.reset(sws_getContext(c->width, c->height, given, c->width, c->height, c->pix_fmt,
                                 SWS_BILINEAR, nullptr, nullptr, nullptr));
  }

  const av::CodecParametersPtr par(avcodec_parameters_alloc());
  avcodec_parameters_from_context(par.get(), c);
  e->start_muxing(params, par.get(), c->time_base);
  return e;
}

std::unique_ptr<Encoder> Encoder::open_remux(const EncoderSettings& s, const StreamParams& params,
                                             const AVCodecParameters* video, AVRational time_base,
                                             std::unique_ptr<AudioTrack> audio) {
  std::unique_ptr<Encoder> e(new Encoder());
  e->audio_ = std::move(audio);
  e->settings_ = s;
  e->input_time_base_ = time_base;
  const AVCodecDescriptor* desc = avcodec_descriptor_get(video->codec_id);
  e->codec_name_ = desc != nullptr ? desc->name : "video";
  const AVOutputFormat* fmt = find_muxer(s);
  const int ret = avformat_alloc_output_context2(&e->mux_, fmt, nullptr, s.output.c_str());
  if (ret < 0) output_error(s.output, av::error_text(ret));
  e->start_muxing(params, video, time_base);
  return e;
}

void Encoder::start_muxing(const StreamParams& params, const AVCodecParameters* video,
                           AVRational time_base) {
  const EncoderSettings& s = settings_;
  const AVOutputFormat* fmt = mux_->oformat;
  int ret = 0;
  mux_->opaque = this;
  default_close_ = mux_->io_close2;
  mux_->io_close2 = &Encoder::close_muxer_file;
  stream_ = avformat_new_stream(mux_, nullptr);
  avcodec_parameters_copy(stream_->codecpar, video);
  // The encoder's own stream side data, as the ffmpeg CLI passes it on: its buffer size (CPB
  // properties) sizes an MPEG-PS muxer's buffer, which otherwise underflows on MPEG-1/2 video.
  for (int i = 0; codec_ && i < codec_->nb_coded_side_data; ++i) {
    const AVPacketSideData& side = codec_->coded_side_data[i];
    std::uint8_t* copy = av_stream_new_side_data(stream_, side.type, side.size);
    if (copy != nullptr) std::memcpy(copy, side.data, side.size);
  }
  // A stream copied from another container keeps its codec tag only where this container knows
  // it for that codec (as the ffmpeg CLI's stream copy); an encoder's own tag (rawvideo's pixel
  // layout) is kept.
  if (!codec_ && video->codec_tag != 0 &&
      (fmt->codec_tag == nullptr ||
       av_codec_get_id(fmt->codec_tag, video->codec_tag) != video->codec_id))
    stream_->codecpar->codec_tag = 0;
  stream_->time_base = time_base;
  stream_->avg_frame_rate = params.frame_rate;
  stream_->sample_aspect_ratio = video->sample_aspect_ratio;
  if (params.aspect_given) {
    stream_->codecpar->sample_aspect_ratio = params.sample_aspect_ratio;
    stream_->sample_aspect_ratio = params.sample_aspect_ratio;
  }
  if (params.display_matrix.size() == 9) {
    std::uint8_t* side =
        av_stream_new_side_data(stream_, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(std::int32_t));
    if (side != nullptr) std::memcpy(side, params.display_matrix.data(), 9 * sizeof(std::int32_t));
  }
  for (const auto& [key, value] : params.metadata) {
    if (key != "encoder") av_dict_set(&mux_->metadata, key.c_str(), value.c_str(), 0);
  }
  for (const auto& [key, value] : s.tags)
    av_dict_set(&mux_->metadata, key.c_str(), value.c_str(), 0);
  if (audio_) audio_->add_output_stream(mux_);
  if (!(fmt->flags & AVFMT_NOFILE)) {
    ret = avio_open(&mux_->pb, s.output.c_str(), AVIO_FLAG_WRITE);
    if (ret < 0) output_error(s.output, av::error_text(ret));
  }
  AVDictionary* mux_opts = muxer_options(s, fmt);
  // Packets reach the file as they are muxed, so a killed encode loses at most the last fragment.
  mux_->flush_packets = 1;
  {
    // A refusal is reported below, in the run's one error line, with libav's reason.
    const av::QuietLogs quiet;
    ret = avformat_write_header(mux_, &mux_opts);
  }
  std::string unknown;
  for (const auto& [key, value] : s.muxer_options) {
    if (av_dict_get(mux_opts, key.c_str(), nullptr, 0) != nullptr)
      unknown += (unknown.empty() ? "" : ", ") + key;
  }
  av_dict_free(&mux_opts);
  if (ret >= 0 && !unknown.empty()) {
    fail(ExitCode::kUsage, "the " + std::string(fmt->name) + " muxer has no option " + unknown);
  }
  if (ret < 0) {
    // The scheduler removes the file this failed run leaves without a frame.
    const std::string why = av::last_error_message();
    // A container that refuses the stream (MXF: only broadcast frame rates and its own codecs,
    // which it cannot be asked about up front) is a usage error, as the codecs the up-front
    // check knows it cannot hold are; a failed write is the output's.
    const bool io = ret == AVERROR(EIO) || ret == AVERROR(ENOSPC) || ret == AVERROR(EFBIG) ||
                    ret == AVERROR(EPIPE) || ret == AVERROR(EACCES) || ret == AVERROR(EROFS) ||
                    ret == AVERROR(EDQUOT) || ret == AVERROR(ENOENT);
    if (!io) {
      av::route_logs_to_spdlog(/*quiet=*/true);
      fail(ExitCode::kUsage,
           "the " + std::string(mux_->oformat->name) +
               " container refuses this stream: " + (why.empty() ? av::error_text(ret) : why) +
               " (choose another container, e.g. -o NAME.mkv, or codec)");
    }
    output_error(s.output, "cannot write the header: " + (why.empty() ? av::error_text(ret) : why));
  }
  header_written_ = true;
  packet_.reset(av_packet_alloc());
}

Encoder::~Encoder() {
  if (mux_ != nullptr) {
    if (mux_->pb != nullptr && !(mux_->oformat->flags & AVFMT_NOFILE)) avio_closep(&mux_->pb);
    avformat_free_context(mux_);
  }
}

void Encoder::send(AVFrame* frame) {
  AVCodecContext* c = codec_.get();
  AVFrame* to_send = frame;
  if (converted_) {
    if (av_frame_make_writable(converted_.get()) < 0)
      fail_out_of_memory("the pixel format conversion");
    sws_scale(sws_.get(), frame->data, frame->linesize, 0, frame->height, converted_->data,
              converted_->linesize);
    converted_->pts = frame->pts;
    to_send = converted_.get();
  }
  to_send->pts = av_rescale_q(to_send->pts, input_time_base_, c->time_base);
  // Encoders and muxers need strictly increasing timestamps; damaged inputs do not always have
  // them.
  if (last_pts_ != AV_NOPTS_VALUE && to_send->pts <= last_pts_) to_send->pts = last_pts_ + 1;
  if (last_pts_ != AV_NOPTS_VALUE) {
    const auto previous = durations_.find(last_pts_);
    if (previous != durations_.end()) previous->second = to_send->pts - last_pts_;
  }
  last_pts_ = to_send->pts;
  const std::int64_t duration = std::max<std::int64_t>(
      1, frame->pkt_duration > 0 ? av_rescale_q(frame->pkt_duration, input_time_base_, c->time_base)
                                 : av_rescale_q(1, av_inv_q(c->framerate), c->time_base));
  // An encoder that drops frames would leave entries behind: keep the map bounded.
  if (durations_.size() > 4096) durations_.erase(durations_.begin());
  durations_[to_send->pts] = duration;
  video_end_s_ = static_cast<double>(to_send->pts + duration) * av_q2d(c->time_base);
  to_send->pict_type = AV_PICTURE_TYPE_NONE;
  const int ret = avcodec_send_frame(c, to_send);
  if (ret < 0) encoder_failed(ret);
  drain();
}

void Encoder::encoder_failed(int averror) const {
  fail_if_out_of_memory(averror, "the " + codec_name_ + " encoder");
  fail(ExitCode::kRunFailed, "encoder " + codec_name_ + ": " + av::error_text(averror));
}

void Encoder::drain() {
  AVCodecContext* c = codec_.get();
  for (;;) {
    int ret = avcodec_receive_packet(c, packet_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    if (ret < 0) encoder_failed(ret);
    const auto shown = durations_.find(packet_->pts);
    if (shown != durations_.end()) {
      packet_->duration = shown->second;
      durations_.erase(shown);
    }
    write_packet(packet_.get(), c->time_base);
  }
}

void Encoder::write_packet(AVPacket* packet, AVRational time_base) {
  packet->stream_index = stream_->index;
  if (!codec_ && packet->pts != AV_NOPTS_VALUE) {
    // Remuxing: where the video ends, for the audio of a run cut short (-t).
    const std::int64_t duration = std::max<std::int64_t>(
        packet->duration, av_rescale_q(1, av_inv_q(stream_->avg_frame_rate), time_base));
    video_end_s_ =
        std::max(video_end_s_, static_cast<double>(packet->pts + duration) * av_q2d(time_base));
  }
  av_packet_rescale_ts(packet, time_base, stream_->time_base);
  const double packet_s = static_cast<double>(packet->pts) * av_q2d(stream_->time_base);
  const int ret = av_interleaved_write_frame(mux_, packet);
  if (ret < 0) output_error(settings_.output, "write failed: " + av::error_text(ret));
  check_muxer_files();
  ++packets_;
  // Audio follows the video's timeline, so the muxer never has to buffer much of either.
  if (audio_) audio_->copy_until(packet_s);
}

int Encoder::close_muxer_file(AVFormatContext* mux, AVIOContext* pb) {
  auto* self = static_cast<Encoder*>(mux->opaque);
  avio_flush(pb);
  const int write_error = pb->error;
  const int ret = self->default_close_(mux, pb);
  if (self->muxer_file_error_ == 0) self->muxer_file_error_ = write_error < 0 ? write_error : ret;
  return ret;
}

void Encoder::check_muxer_files() const {
  if (muxer_file_error_ < 0)
    output_error(settings_.output, "write failed: " + av::error_text(muxer_file_error_));
}

void Encoder::finish(bool stopped_early) {
  if (finished_) return;
  finished_ = true;
  if (codec_) {
    avcodec_send_frame(codec_.get(), nullptr);
    drain();
  }
  if (audio_) {
    if (stopped_early) {
      audio_->end_at(video_end_s_);
    } else {
      audio_->copy_rest();
    }
    audio_->stop_reading();
  }
  const int ret = av_write_trailer(mux_);
  if (ret < 0) output_error(settings_.output, "cannot finish the file: " + av::error_text(ret));
  check_muxer_files();
  if (mux_->pb != nullptr && !(mux_->oformat->flags & AVFMT_NOFILE)) {
    const int close_ret = avio_closep(&mux_->pb);
    if (close_ret < 0) output_error(settings_.output, "close failed: " + av::error_text(close_ret));
  }
}

}  // namespace vpipe::encode
