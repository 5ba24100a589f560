// The plan as --dry-run prints it.
#include <algorithm>
#include <sstream>

#include "common/stage_id.hpp"
#include "plan/plan_text.hpp"
#include "plan/run_plan.hpp"
#include "transform/filter_chain.hpp"

namespace vpipe::plan {

namespace {

// "out.mp4 (libx264 preset veryfast crf 23, 2 threads, ...)".
std::string encoder_text(const RunPlan& p) {
  std::ostringstream s;
  s << p.encoder.output << " (" << p.encoder.codec;
  if (!p.encoder.preset.empty()) s << " preset " << p.encoder.preset;
  if (p.encoder.crf) s << " crf " << *p.encoder.crf;
  if (p.encoder.bitrate) s << " " << *p.encoder.bitrate / 1000 << " kb/s";
  if (p.encoder.gop) s << " gop " << *p.encoder.gop;
  s << ", " << p.encoder.threads << " threads";
  if (p.output_rate.num > 0)
    s << ", -r " << av_q2d(p.output_rate) << " fps: frames dropped or repeated by timestamp";
  if (p.display_aspect.num > 0)
    s << ", -aspect " << p.display_aspect.num << ":" << p.display_aspect.den;
  s << ")";
  return s.str();
}

}  // namespace

// The --dry-run text, one block per line of output in the order printed: long because the plan
// has that many parts, and clearer whole than split.
std::string describe(const RunPlan& p) {
  std::ostringstream s;
  const auto& in = p.input_info;
  s << "input:    " << p.input << "\n"
    << "          " << in.container << ", " << in.codec << " " << in.pix_fmt << " " << in.width
    << "x" << in.height << " @ " << av_q2d(in.frame_rate) << " fps";
  if (in.duration_s > 0) s << ", " << in.duration_s << " s (~" << in.nb_frames << " frames)";
  s << "\n";
  s << "decode:   " << in.codec << " decoder, ";
  if (p.decoder_threads > 0) {
    s << p.decoder_threads << (p.decoder_threads == 1 ? " thread" : " threads") << ": ";
  }
  s << p.decoder_note << "\n";
  if (!p.vf_workers.empty()) {
    s << "          each worker's filters (OpenCV's, libavfilter's): " << p.worker_threads
      << (p.worker_threads == 1 ? " thread" : " threads") << ", their share\n";
  }
  if (p.decoder_slots > 0) {
    s << "convert:  none: the decoder writes its yuv420p pictures straight into pool slots\n";
  } else if (in.pix_fmt == "yuv420p") {
    s << "convert:  none: the decoder's yuv420p planes are copied once into pool slots\n";
  } else {
    s << "convert:  decode converts " << in.pix_fmt
      << " -> yuv420p (the working format) into pool slots, once"
      << (in.bit_depth > 8
              ? " (" + std::to_string(in.bit_depth) + "-bit input: the output is 8-bit)"
              : "")
      << "\n";
  }
  s << "          filters work on yuv420p planes; encode reads the slots in place";
  s << (p.null_output ? "\n" : " (a codec that cannot take yuv420p converts once more)\n");
  if (p.start_s > 0 || p.duration_s > 0) {
    s << "range:    ";
    if (p.start_s > 0)
      s << "from " << p.start_s << " s (" << (in.seekable ? "seek, then decode" : "decode")
        << " up to it; the output starts at 0)";
    if (p.start_s > 0 && p.duration_s > 0) s << ", ";
    if (p.duration_s > 0) s << p.duration_s << " s long (-t)";
    s << "\n";
  }
  const transform::FilterChain chain = transform::FilterChain::parse(p.vf);
  s << "filters:  " << chain.describe() << "\n";
  if (!p.more_outputs.empty()) {
    s << "          on the " << p.nb_workers
      << " worker(s), for every output: " << (p.vf_workers.empty() ? "none" : p.vf_workers) << "\n";
    if (!p.vf_in_order.empty())
      s << "          then this output's own, in the encode stage: " << p.vf_in_order << "\n";
  } else if (!p.vf_in_order.empty()) {
    s << "          each frame alone on the " << p.nb_workers << " workers: " << p.vf_workers
      << "\n          then in order, in the encode stage: " << p.vf_in_order << " ("
      << transform::FilterChain::parse(p.vf_in_order).why_sequential() << ")\n";
  } else if (!p.vf_workers.empty()) {
    const std::string why = transform::FilterChain::parse(p.vf_workers).why_sequential();
    s << "          "
      << (why.empty() ? "each frame alone: the " + std::to_string(p.nb_workers) +
                            " worker(s) each take any frame"
                      : "in order, on 1 worker: " + why)
      << (p.vf_graph.empty() ? "" : ": " + p.vf_workers) << "\n";
  }
  if (!p.vf_graph.empty()) {
    s << "          " << (p.vf_workers.empty() ? "" : "then ")
      << "in the encode stage, as one graph fed every frame in order: " << p.vf_graph << " ("
      << transform::FilterChain::parse(p.vf_graph).why_sequential() << ")\n";
  }
  if (p.autorotate_degrees != 0) {
    s << "          (cv.rotate=" << p.autorotate_degrees
      << " first: the input is shown rotated, and the output is filtered or cannot say so)\n";
  }
  s << "geometry: ";
  for (std::size_t i = 0; i < p.steps.size(); ++i)
    s << (i ? " -> " : "") << geometry_text(p.steps[i]);
  s << "\n";
  if (p.preview) {
    s << "preview:  a window (OpenCV highgui) with fps, latency and drops, at most 60 frames a "
         "second; closing it or pressing q finishes the run as Ctrl-C does\n";
  }
  if (p.null_output) {
    s << "output:   " << (p.preview ? "the preview only" : "null")
      << " (frames are decoded and filtered, then discarded)\n";
  } else {
    s << "output:   " << encoder_text(p) << "\n";
  }
  for (std::size_t i = 0; i < p.more_outputs.size(); ++i) {
    const RunPlan& o = p.more_outputs[i];
    // Where its branch runs: a process of its own, or encode (a stream input's audio).
    const std::string where =
        o.own_process ? "vpipe:" + StageId::output_encoder(static_cast<int>(i) + 1).name()
                      : std::string("the encode stage");
    s << "output " << i + 2 << ": " << encoder_text(o) << "\n"
      << "          " << geometry_text(o.output_geometry()) << "; audio: " << o.audio_note << "\n"
      << (o.stream_copy()
              ? "          copied in " + where +
                    ", a process of its own: its packets remuxed from the input file, beside the "
                    "pipeline"
              : "          encoded in " + where +
                    (o.own_process ? ", a process of its own, from the slots encode shares with it"
                                   : " (it takes the stream's audio from decode, as encode reads "
                                     "it)"))
      << "\n";
    if (!o.vf_in_order.empty())
      s << "          its own filters, in " << where << ": " << o.vf_in_order << "\n";
    if (!o.vf_graph.empty())
      s << "          its own graph, in " << where << ": " << o.vf_graph << "\n";
  }
  if (!p.more_outputs.empty()) {
    s << "          one decode for all " << p.more_outputs.size() + 1
      << " outputs; the workers run "
      << (p.vf_workers.empty() ? std::string("no filter (no part of the chains is shared)")
                               : "the part all share: " + p.vf_workers)
      << "; outputs that take the frames as they are share each slot, without a copy\n";
  }
  s << "audio:    " << p.audio_note << "\n";
  if (!p.subtitle_note.empty()) s << "subs:     " << p.subtitle_note << "\n";
  if (p.live) {
    s << "live:     " << (p.realtime ? "input paced at its native rate (--realtime); " : "")
      << "deadline = capture + " << p.latency_budget_ms
      << " ms: a stage drops a frame it cannot finish in time\n"
      << "          pipeline full: the " << (p.drop_oldest ? "oldest queued" : "newest")
      << " frame is dropped, the source is never stalled; batches adapt to the deadline\n";
    if (!p.null_output) s << "          encoder: " << p.live_encoder_note << "\n";
  } else {
    s << "mode:     offline: every frame is kept (backpressure, no deadlines)\n";
  }
  s << "stages:   " << p.cpus.note << "\n";
  for (const auto& st : p.cpus.stages) {
    s << "          vpipe:" << st.stage
      << std::string(10 - std::min<std::size_t>(10, st.stage.size()), ' ') << "cpus "
      << affinity::format_cpus(st.cpus) << "\n";
  }
  s << "pool:     " << p.nb_slots << " slots x " << mib(p.slot_bytes) << " (window " << p.window
    << " frames in flight"
    << (p.needs_spare ? ", + a spare per batched frame per worker for out-of-place filters" : "")
    << (p.decoder_slots > 0
            ? ", + " + std::to_string(p.decoder_slots) + " kept by the decoder as references"
            : "")
    << "), segment " << mib(p.segment_bytes) << " (memfd)\n";
  if (!p.memory_note.empty()) s << "memory:   " << p.memory_note << "\n";
  s << "rings:    decode -> transform x" << p.nb_workers << " (batches of up to " << p.batch
    << ") -> encode, slot indices only\n";
  if (p.min_workers < p.nb_workers) {
    s << "workers:  " << p.nb_workers << " processes; the pool sizes itself between "
      << p.min_workers << " and " << p.nb_workers
      << " taking frames: it grows while they are busy and frames wait for them, and parks "
         "workers (between frames) when they idle\n";
  }
  return s.str();
}

}  // namespace vpipe::plan
