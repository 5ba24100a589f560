#include "encode/audio_copy.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>

#include "common/error.hpp"

namespace vpipe::encode {

std::unique_ptr<AudioCopy> AudioCopy::open(const std::string& url, int stream_index,
                                           double origin_s) {
  std::unique_ptr<AudioCopy> a(new AudioCopy());
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, url.c_str(), nullptr, nullptr);
  if (ret < 0)
    fail(ExitCode::kInput,
         "input '" + url + "': cannot open it again for its audio: " + av::error_text(ret));
  a->input_.reset(raw);
  ret = avformat_find_stream_info(raw, nullptr);
  if (ret < 0 || stream_index < 0 || stream_index >= static_cast<int>(raw->nb_streams)) {
    fail(ExitCode::kInput, "input '" + url + "': its audio stream is gone");
  }
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    raw->streams[i]->discard =
        static_cast<int>(i) == stream_index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  }
  a->stream_index_ = stream_index;
  a->pending_.reset(av_packet_alloc());
  if (origin_s > 0) {
    a->origin_s_ = origin_s;
    a->origin_ts_ = static_cast<std::int64_t>(
        std::llround(origin_s / av_q2d(raw->streams[stream_index]->time_base)));
    const auto ts = static_cast<std::int64_t>(origin_s * AV_TIME_BASE);
    avformat_seek_file(raw, -1, INT64_MIN, ts, ts, 0);  // else read up to it
  }
  return a;
}

void AudioCopy::add_output_stream(AVFormatContext* mux) {
  const AVStream* in = input_->streams[stream_index_];
  mux_ = mux;
  out_stream_ = avformat_new_stream(mux, nullptr);
  avcodec_parameters_copy(out_stream_->codecpar, in->codecpar);
  out_stream_->codecpar->codec_tag = 0;  // let the muxer pick the tag its container uses
  out_stream_->time_base = in->time_base;
}

bool AudioCopy::read_next() {
  while (!at_end_) {
    const int ret = av_read_frame(input_.get(), pending_.get());
    if (ret < 0) {
      // A damaged audio tail ends the audio, not the run.
      if (ret != AVERROR_EOF)
        spdlog::warn("audio: read error, audio ends here: {}", av::error_text(ret));
      at_end_ = true;
      return false;
    }
    if (pending_->stream_index == stream_index_) return true;
    av_packet_unref(pending_.get());
  }
  return false;
}

void AudioCopy::copy_until(double until_s) {
  const AVRational in_tb = input_->streams[stream_index_]->time_base;
  for (;;) {
    if (!has_pending_) {
      if (!read_next()) return;
      has_pending_ = true;
    }
    const std::int64_t ts = pending_->pts != AV_NOPTS_VALUE ? pending_->pts : pending_->dts;
    if (ts != AV_NOPTS_VALUE && static_cast<double>(ts) * av_q2d(in_tb) - origin_s_ >= until_s)
      return;
    has_pending_ = false;
    if (origin_s_ > 0) {
      // -ss: audio before the start is not kept; the rest moves back with the video.
      if (ts == AV_NOPTS_VALUE || ts < origin_ts_) {
        av_packet_unref(pending_.get());
        continue;
      }
      if (pending_->pts != AV_NOPTS_VALUE) pending_->pts -= origin_ts_;
      if (pending_->dts != AV_NOPTS_VALUE) pending_->dts -= origin_ts_;
    }
    av_packet_rescale_ts(pending_.get(), in_tb, out_stream_->time_base);
    pending_->stream_index = out_stream_->index;
    pending_->pos = -1;
    // Muxers reject non-increasing dts; a damaged stream's stray packet is dropped instead.
    if (pending_->dts != AV_NOPTS_VALUE && last_dts_ != AV_NOPTS_VALUE &&
        pending_->dts <= last_dts_) {
      av_packet_unref(pending_.get());
      continue;
    }
    if (pending_->dts != AV_NOPTS_VALUE) last_dts_ = pending_->dts;
    const int ret = av_interleaved_write_frame(mux_, pending_.get());
    if (ret < 0) fail(ExitCode::kOutput, "output: writing audio failed: " + av::error_text(ret));
    ++packets_;
  }
}

void AudioCopy::copy_rest() {
  copy_until(std::numeric_limits<double>::infinity());
}

}  // namespace vpipe::encode
