#include "encode/audio_copy.hpp"

extern "C" {
#include <libavcodec/bsf.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.hpp"

namespace vpipe::encode {

void AudioTrack::open_input(const std::string& url, int stream_index, double origin_s) {
  // The input is read a second time here: what its demuxer says, decode has said already.
  const av::QuietLogs quiet;
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, url.c_str(), nullptr, nullptr);
  if (ret < 0)
    fail(ExitCode::kInput,
         "input '" + url + "': cannot open it again for its audio: " + av::error_text(ret));
  input_.reset(raw);
  ret = avformat_find_stream_info(raw, nullptr);
  if (ret < 0 || stream_index < 0 || stream_index >= static_cast<int>(raw->nb_streams)) {
    fail(ExitCode::kInput, "input '" + url + "': its audio stream is gone");
  }
  for (unsigned i = 0; i < raw->nb_streams; ++i) {
    raw->streams[i]->discard =
        static_cast<int>(i) == stream_index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  }
  stream_index_ = stream_index;
  repair_ = TimestampRepair(raw, /*say=*/false);
  in_par_ = raw->streams[stream_index]->codecpar;
  in_time_base_ = raw->streams[stream_index]->time_base;
  set_origin(origin_s);
  // Far into the file (-ss), seek; near its start (the output's 0 is the input's first
  // timestamp, 95001 s in a TS recording) reading up to it is cheap and cannot miss a packet.
  const auto ts = static_cast<std::int64_t>(origin_s * AV_TIME_BASE);
  const std::int64_t start = raw->start_time != AV_NOPTS_VALUE ? raw->start_time : 0;
  if (origin_s > 0 && ts > start + AV_TIME_BASE) avformat_seek_file(raw, -1, INT64_MIN, ts, ts, 0);
}

void AudioTrack::set_origin(double origin_s) {
  if (origin_s <= 0) return;
  origin_s_ = origin_s;
  origin_ts_ = static_cast<std::int64_t>(std::llround(origin_s / av_q2d(in_time_base_)));
}

SharedAudioRing::SharedAudioRing(shm::PacketRing ring, int readers)
    : ring_(ring),
      waiting_(static_cast<std::size_t>(readers)),
      left_(static_cast<std::size_t>(readers), false) {}

void SharedAudioRing::leave(int reader) {
  left_[static_cast<std::size_t>(reader)] = true;
  std::deque<Packet>().swap(waiting_[static_cast<std::size_t>(reader)]);
}

bool SharedAudioRing::pop(int reader, shm::PacketHeader& header, std::vector<std::uint8_t>& data) {
  if (left_[static_cast<std::size_t>(reader)]) return false;
  std::deque<Packet>& mine = waiting_[static_cast<std::size_t>(reader)];
  if (!mine.empty()) {
    header = mine.front().header;
    data = std::move(mine.front().data);
    mine.pop_front();
    return true;
  }
  if (!ring_.try_pop(header, data)) return false;
  for (std::size_t other = 0; other < waiting_.size(); ++other) {
    if (other != static_cast<std::size_t>(reader) && !left_[other]) {
      waiting_[other].push_back({header, data});
    }
  }
  return true;
}

void AudioTrack::attach_ring(AudioRingReader ring, const av::AudioParams& params, double origin_s) {
  ring_ = std::move(ring);
  ring_par_.reset(avcodec_parameters_alloc());
  params.fill(ring_par_.get());
  in_par_ = ring_par_.get();
  in_time_base_ = params.time_base;
  set_origin(origin_s);
}

bool AudioTrack::read_packet(AVPacket* packet) {
  if (ring_) {
    shm::PacketHeader header{};
    if (!ring_->ring->pop(ring_->reader, header, ring_data_)) return false;
    if (av_new_packet(packet, static_cast<int>(header.size)) < 0)
      fail(ExitCode::kRunFailed, "audio: out of memory");
    if (header.size > 0) std::memcpy(packet->data, ring_data_.data(), header.size);
    packet->pts = header.pts;
    packet->dts = header.dts;
    packet->duration = header.duration;
    packet->flags = header.flags;
    packet->stream_index = stream_index_;
    fill_timestamps(packet);
    return true;
  }
  while (!at_end_) {
    int ret = 0;
    {
      const av::QuietLogs quiet;  // decode reports the demuxer's warnings (see open_input)
      ret = av_read_frame(input_.get(), packet);
    }
    if (ret < 0) {
      // A damaged audio tail ends the audio, not the run.
      if (ret != AVERROR_EOF)
        spdlog::warn("audio: read error, audio ends here: {}", av::error_text(ret));
      at_end_ = true;
      return false;
    }
    if (packet->stream_index == stream_index_) {
      repair_.fix(packet, input_->streams[stream_index_]);
      fill_timestamps(packet);
      return true;
    }
    av_packet_unref(packet);
  }
  return false;
}

void AudioTrack::fill_timestamps(AVPacket* packet) {
  if (packet->duration <= 0 && in_par_->sample_rate > 0) {
    int samples =
        av_get_audio_frame_duration2(const_cast<AVCodecParameters*>(in_par_), packet->size);
    if (samples <= 0) samples = in_par_->frame_size;
    if (samples > 0)
      packet->duration = av_rescale_q(samples, {1, in_par_->sample_rate}, in_time_base_);
  }
  if (packet->dts == AV_NOPTS_VALUE)
    packet->dts = packet->pts != AV_NOPTS_VALUE ? packet->pts : next_dts_;
  if (packet->pts == AV_NOPTS_VALUE) packet->pts = packet->dts;
  next_dts_ = packet->dts != AV_NOPTS_VALUE && packet->duration > 0 ? packet->dts + packet->duration
                                                                    : AV_NOPTS_VALUE;
}

bool AudioTrack::shift(AVPacket* packet) const {
  if (origin_s_ <= 0) return true;
  // -ss: audio before the start is not kept; the rest moves back with the video.
  const std::int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
  if (ts == AV_NOPTS_VALUE || ts < origin_ts_) return false;
  if (packet->pts != AV_NOPTS_VALUE) packet->pts -= origin_ts_;
  if (packet->dts != AV_NOPTS_VALUE) packet->dts -= origin_ts_;
  return true;
}

double AudioTrack::output_seconds(std::int64_t ts) const {
  return static_cast<double>(ts) * av_q2d(in_time_base_) - origin_s_;
}

// ---- stream copy ------------------------------------------------------------------------------

std::unique_ptr<AudioCopy> AudioCopy::open(const std::string& url, int stream_index,
                                           double origin_s) {
  std::unique_ptr<AudioCopy> a(new AudioCopy());
  a->open_input(url, stream_index, origin_s);
  a->pending_.reset(av_packet_alloc());
  return a;
}

std::unique_ptr<AudioCopy> AudioCopy::from_ring(AudioRingReader ring, const av::AudioParams& params,
                                                double origin_s) {
  std::unique_ptr<AudioCopy> a(new AudioCopy());
  a->attach_ring(std::move(ring), params, origin_s);
  a->pending_.reset(av_packet_alloc());
  return a;
}

void AudioCopy::add_output_stream(AVFormatContext* mux) {
  mux_ = mux;
  out_stream_ = avformat_new_stream(mux, nullptr);
  const std::string container = mux->oformat->name;
  const bool carries_adts = container == "mpegts" || container == "adts" || container == "hls" ||
                            container == "rtp_mpegts";
  if (in_par_->codec_id == AV_CODEC_ID_AAC && in_par_->extradata_size == 0 && !carries_adts) {
    AVBSFContext* bsf = nullptr;
    if (av_bsf_alloc(av_bsf_get_by_name("aac_adtstoasc"), &bsf) < 0)
      fail(ExitCode::kRunFailed, "audio: cannot set up aac_adtstoasc");
    bsf_.reset(bsf);
    avcodec_parameters_copy(bsf->par_in, in_par_);
    bsf->time_base_in = in_time_base_;
    if (av_bsf_init(bsf) < 0) fail(ExitCode::kRunFailed, "audio: cannot set up aac_adtstoasc");
    filtered_.reset(av_packet_alloc());
    avcodec_parameters_copy(out_stream_->codecpar, bsf->par_out);
  } else {
    avcodec_parameters_copy(out_stream_->codecpar, in_par_);
  }
  out_stream_->codecpar->codec_tag = 0;  // let the muxer pick the tag its container uses
  out_stream_->time_base = in_time_base_;
}

void AudioCopy::copy_until(double until_s) {
  const AVRational in_tb = in_time_base_;
  for (;;) {
    if (!has_pending_) {
      if (!read_packet(pending_.get())) return;
      // Packets an MP4 edit list cuts are not played; those that end before the output starts
      // are not copied either. Kept, they would start the audio early, and a muxer that shifts
      // negative timestamps (Matroska) would move the video late by as much. The packet that
      // ends where the output starts (an encoder's priming) stays, as the ffmpeg CLI keeps it.
      if ((pending_->flags & AV_PKT_FLAG_DISCARD) != 0 && pending_->pts != AV_NOPTS_VALUE &&
          pending_->pts + pending_->duration < origin_ts_) {
        av_packet_unref(pending_.get());
        continue;
      }
      has_pending_ = true;
    }
    const std::int64_t ts = pending_->pts != AV_NOPTS_VALUE ? pending_->pts : pending_->dts;
    if (ts != AV_NOPTS_VALUE && output_seconds(ts) >= until_s) return;
    has_pending_ = false;
    if (!shift(pending_.get())) {
      av_packet_unref(pending_.get());
      continue;
    }
    av_packet_rescale_ts(pending_.get(), in_tb, out_stream_->time_base);
    if (!bsf_) {
      write(pending_.get());
      continue;
    }
    if (av_bsf_send_packet(bsf_.get(), pending_.get()) < 0) {
      av_packet_unref(pending_.get());  // a damaged ADTS header: that packet is lost
      continue;
    }
    while (av_bsf_receive_packet(bsf_.get(), filtered_.get()) == 0) write(filtered_.get());
  }
}

void AudioCopy::BsfDeleter::operator()(AVBSFContext* bsf) const {
  av_bsf_free(&bsf);
}

void AudioTrack::write_failed(int averror) const {
  av::route_logs_to_spdlog(/*quiet=*/true);  // as the video's write error (encoder.cpp)
  fail(ExitCode::kOutput, "output '" + std::string(mux_->url != nullptr ? mux_->url : "") +
                              "': writing audio failed: " + av::error_text(averror));
}

void AudioCopy::write(AVPacket* packet) {
  packet->stream_index = out_stream_->index;
  packet->pos = -1;
  // Muxers reject non-increasing dts; a damaged stream's stray packet is dropped instead.
  if (packet->dts != AV_NOPTS_VALUE && last_dts_ != AV_NOPTS_VALUE && packet->dts <= last_dts_) {
    av_packet_unref(packet);
    return;
  }
  if (packet->dts != AV_NOPTS_VALUE) last_dts_ = packet->dts;
  const int ret = av_interleaved_write_frame(mux_, packet);
  if (ret < 0) write_failed(ret);
  ++packets_;
}

void AudioCopy::copy_rest() {
  copy_until(std::numeric_limits<double>::infinity());
}

// ---- transcode --------------------------------------------------------------------------------

std::int64_t default_bitrate(AVCodecID codec, int sample_rate, int channels) {
  // 64 kb/s a channel (128 kb/s stereo), as far as the codec can spend: AAC holds at most 6144
  // bits per channel in a frame of 1024 samples (48 kb/s for 8 kHz mono, which the encoder
  // would otherwise clamp with a warning).
  std::int64_t rate = 64000LL * std::max(1, channels);
  if (codec == AV_CODEC_ID_AAC && sample_rate > 0)
    rate = std::min<std::int64_t>(rate, 6144LL * std::max(1, channels) * sample_rate / 1024);
  return rate;
}

std::unique_ptr<AudioTranscode> AudioTranscode::open(const std::string& url, int stream_index,
                                                     double origin_s, const std::string& codec,
                                                     std::int64_t bitrate) {
  std::unique_ptr<AudioTranscode> a(new AudioTranscode());
  a->open_input(url, stream_index, origin_s);
  a->open_decoder(url, codec, bitrate);
  return a;
}

std::unique_ptr<AudioTranscode> AudioTranscode::from_ring(AudioRingReader ring,
                                                          const av::AudioParams& params,
                                                          double origin_s, const std::string& codec,
                                                          std::int64_t bitrate) {
  std::unique_ptr<AudioTranscode> a(new AudioTranscode());
  a->attach_ring(std::move(ring), params, origin_s);
  a->open_decoder("the live input", codec, bitrate);
  return a;
}

void AudioTranscode::open_decoder(const std::string& what, const std::string& codec,
                                  std::int64_t bitrate) {
  codec_name_ = codec;
  bitrate_ = bitrate;
  const AVCodec* dec = avcodec_find_decoder(in_par_->codec_id);
  if (dec == nullptr)
    fail(ExitCode::kInput, "input '" + what + "': no decoder for its " +
                               avcodec_get_name(in_par_->codec_id) + " audio");
  decoder_.reset(avcodec_alloc_context3(dec));
  avcodec_parameters_to_context(decoder_.get(), in_par_);
  decoder_->pkt_timebase = in_time_base_;
  if (avcodec_open2(decoder_.get(), dec, nullptr) < 0)
    fail(ExitCode::kInput, "input '" + what + "': cannot decode its audio");
  packet_.reset(av_packet_alloc());
  decoded_.reset(av_frame_alloc());
  chunk_.reset(av_frame_alloc());
}

AudioTranscode::~AudioTranscode() {
  swr_free(&swr_);
  if (fifo_ != nullptr) av_audio_fifo_free(fifo_);
}

void AudioTranscode::add_output_stream(AVFormatContext* mux) {
  const AVCodec* codec = avcodec_find_encoder_by_name(codec_name_.c_str());
  if (codec == nullptr || codec->type != AVMEDIA_TYPE_AUDIO)
    fail(ExitCode::kUsage, "audio encoder '" + codec_name_ + "' is not available");
  mux_ = mux;
  encoder_.reset(avcodec_alloc_context3(codec));
  AVCodecContext* e = encoder_.get();
  const AVCodecContext* d = decoder_.get();
  e->sample_fmt = codec->sample_fmts != nullptr ? codec->sample_fmts[0] : d->sample_fmt;
  e->sample_rate = d->sample_rate;
  if (codec->supported_samplerates != nullptr) {
    // The nearest rate the encoder takes.
    int best = codec->supported_samplerates[0];
    for (const int* r = codec->supported_samplerates; *r != 0; ++r) {
      if (std::abs(*r - d->sample_rate) < std::abs(best - d->sample_rate)) best = *r;
    }
    e->sample_rate = best;
  }
  if (d->ch_layout.nb_channels > 0 && d->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC) {
    av_channel_layout_copy(&e->ch_layout, &d->ch_layout);
  } else {
    av_channel_layout_default(&e->ch_layout, std::max(1, d->ch_layout.nb_channels));
  }
  e->bit_rate = bitrate_ > 0 ? bitrate_
                             : default_bitrate(codec->id, e->sample_rate, e->ch_layout.nb_channels);
  e->time_base = AVRational{1, e->sample_rate};
  if (mux->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int ret = avcodec_open2(e, codec, nullptr);
  if (ret < 0)
    fail(ExitCode::kUsage, "cannot open audio encoder " + codec_name_ + ": " + av::error_text(ret));
  AVChannelLayout in_layout{};
  if (d->ch_layout.order != AV_CHANNEL_ORDER_UNSPEC) {
    av_channel_layout_copy(&in_layout, &d->ch_layout);
  } else {
    av_channel_layout_default(&in_layout, e->ch_layout.nb_channels);
  }
  ret = swr_alloc_set_opts2(&swr_, &e->ch_layout, e->sample_fmt, e->sample_rate, &in_layout,
                            d->sample_fmt, d->sample_rate, 0, nullptr);
  av_channel_layout_uninit(&in_layout);
  // The output follows the input's timestamps, as ffmpeg's aresample=async=1: a gap of more than
  // 0.1 s (lost packets, a decoder that returns fewer samples than a packet spans) is filled
  // with silence and an overlap dropped, so the sound stays in step with the picture.
  if (ret >= 0) ret = av_opt_set_double(swr_, "async", 1, 0);
  if (ret < 0 || swr_init(swr_) < 0)
    fail(ExitCode::kRunFailed, "audio: cannot convert the input's samples for " + codec_name_);
  fifo_ = av_audio_fifo_alloc(e->sample_fmt, e->ch_layout.nb_channels, 4096);
  out_stream_ = avformat_new_stream(mux, nullptr);
  avcodec_parameters_from_context(out_stream_->codecpar, e);
  out_stream_->time_base = e->time_base;
}

void AudioTranscode::write_packets() {
  AVCodecContext* e = encoder_.get();
  for (;;) {
    const int ret = avcodec_receive_packet(e, packet_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
    if (ret < 0) fail(ExitCode::kRunFailed, "audio encoder: " + av::error_text(ret));
    av_packet_rescale_ts(packet_.get(), e->time_base, out_stream_->time_base);
    packet_->stream_index = out_stream_->index;
    const int wret = av_interleaved_write_frame(mux_, packet_.get());
    if (wret < 0) write_failed(wret);
    ++packets_;
  }
}

void AudioTranscode::encode_frames(bool flush) {
  AVCodecContext* e = encoder_.get();
  const int frame_size = e->frame_size > 0 ? e->frame_size : 1024;
  while (av_audio_fifo_size(fifo_) >= frame_size || (flush && av_audio_fifo_size(fifo_) > 0)) {
    const int n = std::min(frame_size, av_audio_fifo_size(fifo_));
    av_frame_unref(chunk_.get());
    chunk_->nb_samples = n;
    chunk_->format = e->sample_fmt;
    chunk_->sample_rate = e->sample_rate;
    av_channel_layout_copy(&chunk_->ch_layout, &e->ch_layout);
    if (av_frame_get_buffer(chunk_.get(), 0) < 0) fail(ExitCode::kRunFailed, "out of memory");
    av_audio_fifo_read(fifo_, reinterpret_cast<void**>(chunk_->data), n);
    chunk_->pts = next_pts_;
    next_pts_ += n;
    if (avcodec_send_frame(e, chunk_.get()) < 0)
      fail(ExitCode::kRunFailed, "audio encoder " + codec_name_ + " rejected a frame");
    write_packets();
  }
  if (flush) {
    avcodec_send_frame(e, nullptr);
    write_packets();
  }
}

void AudioTranscode::decode(const AVPacket* packet) {
  AVCodecContext* d = decoder_.get();
  AVCodecContext* e = encoder_.get();
  if (avcodec_send_packet(d, packet) < 0 && packet != nullptr) return;  // a damaged packet
  while (avcodec_receive_frame(d, decoded_.get()) == 0) {
    if (next_pts_ == AV_NOPTS_VALUE) {
      // The first sample's place on the output's timeline.
      const std::int64_t ts = decoded_->best_effort_timestamp != AV_NOPTS_VALUE
                                  ? decoded_->best_effort_timestamp
                                  : origin_ts_;
      next_pts_ = std::max<std::int64_t>(
          0, std::llround(output_seconds(ts) * static_cast<double>(e->sample_rate)));
    }
    if (decoded_->best_effort_timestamp != AV_NOPTS_VALUE) {
      // Where this frame belongs, in 1/(input rate * output rate) as swr counts; it fills or
      // drops to get there.
      const double at_s = output_seconds(decoded_->best_effort_timestamp);
      swr_next_pts(swr_, std::llround(at_s * static_cast<double>(d->sample_rate) *
                                      static_cast<double>(e->sample_rate)));
    }
    const int max_out = swr_get_out_samples(swr_, decoded_->nb_samples);
    std::uint8_t** out = nullptr;
    av_samples_alloc_array_and_samples(&out, nullptr, e->ch_layout.nb_channels, max_out,
                                       e->sample_fmt, 0);
    const int got =
        swr_convert(swr_, out, max_out, const_cast<const std::uint8_t**>(decoded_->extended_data),
                    decoded_->nb_samples);
    if (got > 0) av_audio_fifo_write(fifo_, reinterpret_cast<void**>(out), got);
    if (out != nullptr) av_freep(&out[0]);
    av_freep(&out);
    av_frame_unref(decoded_.get());
  }
}

void AudioTranscode::copy_until(double until_s) {
  while (!at_end_) {
    // Encoded audio runs ahead of what has been read by at most the FIFO's frame.
    if (next_pts_ != AV_NOPTS_VALUE &&
        static_cast<double>(next_pts_ + av_audio_fifo_size(fifo_)) / encoder_->sample_rate >=
            until_s)
      break;
    if (!read_packet(packet_.get())) break;
    const std::int64_t ts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
    if (origin_s_ > 0 && ts != AV_NOPTS_VALUE && ts < origin_ts_) {
      av_packet_unref(packet_.get());  // before -ss
      continue;
    }
    decode(packet_.get());
    av_packet_unref(packet_.get());
    encode_frames(/*flush=*/false);
  }
}

void AudioTranscode::end_at(double until_s) {
  if (flushed_) return;
  flushed_ = true;
  copy_until(until_s);
  if (next_pts_ != AV_NOPTS_VALUE) {
    // Samples decoded past the end are not encoded.
    const auto keep = std::clamp<std::int64_t>(
        std::llround(until_s * encoder_->sample_rate) - next_pts_, 0, av_audio_fifo_size(fifo_));
    av_audio_fifo_drain(fifo_, av_audio_fifo_size(fifo_) - static_cast<int>(keep));
  }
  encode_frames(/*flush=*/true);
}

void AudioTranscode::copy_rest() {
  if (flushed_) return;
  flushed_ = true;
  copy_until(std::numeric_limits<double>::infinity());
  decode(nullptr);
  encode_frames(/*flush=*/true);
}

}  // namespace vpipe::encode
