#include "support/media.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/intreadwrite.h>
#include <libswscale/swscale.h>
}

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace vpipe::test {

DecodedVideo decode_video(const std::string& path, bool keep_pixels) {
  DecodedVideo out;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return out;
  }
  avformat_find_stream_info(fmt, nullptr);
  const AVCodec* codec = nullptr;
  const int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (idx < 0) {
    ADD_FAILURE() << "no video stream in " << path;
    avformat_close_input(&fmt);
    return out;
  }
  AVStream* st = fmt->streams[idx];
  if (st->duration != AV_NOPTS_VALUE) {
    out.duration_s = st->duration * av_q2d(st->time_base);
  } else if (fmt->duration != AV_NOPTS_VALUE) {
    out.duration_s = static_cast<double>(fmt->duration) / AV_TIME_BASE;  // Matroska keeps it here
  }
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, st->codecpar);
  avcodec_open2(dec, codec, nullptr);
  out.codec = codec->name;
  out.width = st->codecpar->width;
  out.height = st->codecpar->height;
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  SwsContext* sws = nullptr;
  const int packed = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, out.width, out.height, 1);
  std::vector<std::uint8_t> buf(packed);
  auto take = [&]() {
    while (avcodec_receive_frame(dec, frame) == 0) {
      std::uint8_t* dst[4];
      int dst_ls[4];
      av_image_fill_arrays(dst, dst_ls, buf.data(), AV_PIX_FMT_YUV420P, out.width, out.height, 1);
      if (frame->format == AV_PIX_FMT_YUV420P) {
        av_image_copy(dst, dst_ls, const_cast<const std::uint8_t**>(frame->data), frame->linesize,
                      AV_PIX_FMT_YUV420P, out.width, out.height);
      } else {
        sws = sws_getCachedContext(sws, frame->width, frame->height,
                                   static_cast<AVPixelFormat>(frame->format), out.width, out.height,
                                   AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr);
        sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, dst_ls);
      }
      std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
      for (std::uint8_t b : buf) h = (h ^ b) * 1099511628211ULL;
      out.checksums.push_back(h);
      out.pts.push_back(frame->best_effort_timestamp);
      if (keep_pixels) out.frames.push_back(buf);
    }
  };
  while (av_read_frame(fmt, pkt) >= 0) {
    if (pkt->stream_index == idx) avcodec_send_packet(dec, pkt);
    av_packet_unref(pkt);
    take();
  }
  avcodec_send_packet(dec, nullptr);
  take();
  sws_freeContext(sws);
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return out;
}

std::vector<StreamInfo> probe_streams(const std::string& path) {
  std::vector<StreamInfo> streams;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return streams;
  }
  avformat_find_stream_info(fmt, nullptr);
  std::vector<std::int64_t> first(fmt->nb_streams, AV_NOPTS_VALUE),
      end(fmt->nb_streams, AV_NOPTS_VALUE), last(fmt->nb_streams, AV_NOPTS_VALUE),
      skipped(fmt->nb_streams, 0);
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    const char* type = av_get_media_type_string(par->codec_type);
    streams.push_back({type ? type : "unknown", avcodec_get_name(par->codec_id), 0, 0});
  }
  AVPacket* pkt = av_packet_alloc();
  while (av_read_frame(fmt, pkt) >= 0) {
    const int i = pkt->stream_index;
    ++streams[i].packets;
    if (pkt->pts != AV_NOPTS_VALUE) {
      if (first[i] == AV_NOPTS_VALUE || pkt->pts < first[i]) {
        first[i] = pkt->pts;
        std::size_t size = 0;
        const std::uint8_t* skip = av_packet_get_side_data(pkt, AV_PKT_DATA_SKIP_SAMPLES, &size);
        skipped[i] = skip != nullptr && size >= 4 ? AV_RL32(skip) : 0;
      }
      if (last[i] == AV_NOPTS_VALUE || pkt->pts > last[i]) last[i] = pkt->pts;
      const std::int64_t e = pkt->pts + pkt->duration;
      if (end[i] == AV_NOPTS_VALUE || e > end[i]) end[i] = e;
    }
    av_packet_unref(pkt);
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (first[i] == AV_NOPTS_VALUE) continue;
    const AVStream* st = fmt->streams[i];
    streams[i].duration_s = (end[i] - first[i]) * av_q2d(st->time_base);
    streams[i].start_s = first[i] * av_q2d(st->time_base);
    if (st->codecpar->sample_rate > 0)
      streams[i].start_s += static_cast<double>(skipped[i]) / st->codecpar->sample_rate;
    streams[i].last_pts_s = last[i] * av_q2d(st->time_base);
  }
  av_packet_free(&pkt);
  avformat_close_input(&fmt);
  return streams;
}

double psnr(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  double sse = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sse += d * d;
  }
  if (sse == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(255.0 * 255.0 * static_cast<double>(a.size()) / sse);
}

}  // namespace vpipe::test
