#include "segments/manifest.hpp"

extern "C" {
#include <libavutil/mem.h>
#include <libavutil/sha.h>
}

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "affinity/cpu_plan.hpp"
#include "common/error.hpp"

namespace vpipe::segments {

using json = nlohmann::json;

Split parse_split(const std::string& text) {
  if (text == "keyframes") return Split::kKeyframes;
  if (text == "gop") return Split::kGop;
  if (text == "exact") return Split::kExact;
  fail(ExitCode::kUsage, "--split '" + text + "': use keyframes, gop or exact");
}

const char* split_name(Split split) {
  switch (split) {
    case Split::kKeyframes:
      return "keyframes";
    case Split::kGop:
      return "gop";
    case Split::kExact:
      return "exact";
  }
  return "?";
}

std::vector<Segment> split_frames(const FrameIndex& index, std::int64_t job_begin,
                                  std::int64_t job_end, const SplitRequest& request) {
  const auto& pts = index.pts;
  const auto lo =
      static_cast<std::int64_t>(std::lower_bound(pts.begin(), pts.end(), job_begin) - pts.begin());
  const auto hi =
      static_cast<std::int64_t>(std::lower_bound(pts.begin(), pts.end(), job_end) - pts.begin());
  const std::int64_t nb = hi - lo;
  if (nb <= 0) fail(ExitCode::kUsage, "no video frames in the range to split");
  if (request.split == Split::kGop && request.gop <= 0)
    fail(ExitCode::kUsage, "--split gop needs the keyframe interval (-g N)");
  std::int64_t wanted = request.segments;
  if (wanted <= 0) {
    if (request.segment_length_s <= 0)
      fail(ExitCode::kUsage, "give --segments N or --segment-length SECONDS");
    const double span_s = static_cast<double>(pts[hi - 1] - pts[lo]) * av_q2d(index.time_base) +
                          (nb > 1 ? static_cast<double>(pts[hi - 1] - pts[lo]) *
                                        av_q2d(index.time_base) / static_cast<double>(nb - 1)
                                  : 0.0);
    wanted = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::llround(span_s / request.segment_length_s)));
  }
  wanted = std::min(wanted, nb);

  // Frame numbers (relative to lo) a segment may start at.
  std::vector<std::int64_t> allowed;
  for (std::int64_t i = 1; i < nb; ++i) {
    const std::int64_t p = pts[lo + i];
    bool ok = p > pts[lo + i - 1];  // frames that share a timestamp stay together
    if (request.split == Split::kKeyframes)
      ok = ok && std::binary_search(index.keyframes.begin(), index.keyframes.end(), p);
    else if (request.split == Split::kGop)
      ok = ok && i % request.gop == 0;
    if (ok) allowed.push_back(i);
  }
  std::vector<std::int64_t> bounds{0};
  for (std::int64_t k = 1; k < wanted && !allowed.empty(); ++k) {
    const std::int64_t target = (k * nb + wanted / 2) / wanted;
    auto it = std::lower_bound(allowed.begin(), allowed.end(), target);
    std::int64_t pick = 0;
    if (it == allowed.end()) {
      pick = allowed.back();
    } else if (it == allowed.begin()) {
      pick = *it;
    } else {
      pick = (*it - target < target - *(it - 1)) ? *it : *(it - 1);
    }
    if (pick > bounds.back()) bounds.push_back(pick);
  }
  bounds.push_back(nb);

  std::vector<Segment> out;
  for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
    Segment s;
    s.index = static_cast<int>(k);
    s.first_frame = bounds[k];
    s.frames = bounds[k + 1] - bounds[k];
    s.begin_pts = pts[lo + bounds[k]];
    s.end_pts = k + 2 == bounds.size() ? job_end : pts[lo + bounds[k + 1]];
    s.preroll_frames = std::min<std::int64_t>(bounds[k], std::max(0, request.preroll_frames));
    s.preroll_pts = pts[lo + bounds[k] - s.preroll_frames];
    // The keyframe before the one at or before the first frame needed: a demuxer whose seek is
    // approximate (MPEG-PS, AVI) or whose timestamps are a frame off the decoder's still lands
    // early enough; decode drops what comes before the range.
    auto key = std::upper_bound(index.keyframes.begin(), index.keyframes.end(), s.preroll_pts);
    if (key == index.keyframes.begin()) {
      s.seek_pts = pts.front();  // no keyframe before it: from the start
    } else {
      --key;
      if (key != index.keyframes.begin()) --key;
      s.seek_pts = *key;
    }
    out.push_back(s);
  }
  return out;
}

std::string format_indices(const std::vector<int>& indices) {
  // The same run notation as a CPU list ("1,3,7-9"), but nothing for none.
  return indices.empty() ? "" : affinity::format_cpus(indices);
}

std::string sha256_hex(const std::string& bytes) {
  std::unique_ptr<AVSHA, decltype(&av_free)> sha(av_sha_alloc(), av_free);
  av_sha_init(sha.get(), 256);
  av_sha_update(sha.get(), reinterpret_cast<const std::uint8_t*>(bytes.data()),
                static_cast<unsigned int>(bytes.size()));
  std::uint8_t digest[32];
  av_sha_final(sha.get(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (std::uint8_t b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string options_hash(const std::vector<std::string>& run_args) {
  std::string all = "vpipe-manifest-" + std::to_string(kManifestVersion);
  for (const auto& a : run_args) all += '\0' + a;
  return "sha256:" + sha256_hex(all);
}

namespace {

json rational(AVRational r) {
  return json{r.num, r.den};
}
AVRational rational(const json& j) {
  return AVRational{j.at(0).get<int>(), j.at(1).get<int>()};
}

}  // namespace

std::string to_json(const Manifest& m) {
  json segs = json::array();
  for (const Segment& s : m.segments) {
    segs.push_back({{"index", s.index},
                    {"seek_pts", s.seek_pts},
                    {"preroll_pts", s.preroll_pts},
                    {"preroll_frames", s.preroll_frames},
                    {"begin_pts", s.begin_pts},
                    {"end_pts", s.end_pts == kToTheEnd ? json() : json(s.end_pts)},
                    {"first_frame", s.first_frame},
                    {"frames", s.frames}});
  }
  return json{{"vpipe_manifest", kManifestVersion},
              {"vpipe_version", m.vpipe_version},
              {"created", m.created},
              {"input",
               {{"path", m.input.path},
                {"size", m.input.size},
                {"mtime_ns", m.input.mtime_ns},
                {"head_tail_sha256", m.input.head_tail_sha256}}},
              {"output", m.output},
              {"run_args", m.run_args},
              {"options_hash", m.options_hash},
              {"video",
               {{"stream", m.video_stream},
                {"time_base", rational(m.time_base)},
                {"frame_rate", rational(m.frame_rate)},
                {"origin_pts", m.origin_pts},
                {"frames", m.frames}}},
              {"split", split_name(m.split)},
              {"cpus_per_job", m.cpus_per_job},
              {"job_bytes", m.job_bytes},
              {"segments", segs}}
      .dump(2);
}

Manifest manifest_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    if (j.at("vpipe_manifest").get<int>() != kManifestVersion)
      fail(ExitCode::kUsage, "manifest version " + j.at("vpipe_manifest").dump() +
                                 " is not one this vpipe reads (" +
                                 std::to_string(kManifestVersion) + ")");
    Manifest m;
    m.vpipe_version = j.at("vpipe_version");
    m.created = j.at("created");
    const json& in = j.at("input");
    m.input = {in.at("path"), in.at("size"), in.at("mtime_ns"), in.at("head_tail_sha256")};
    m.output = j.at("output");
    m.run_args = j.at("run_args").get<std::vector<std::string>>();
    m.options_hash = j.at("options_hash");
    const json& v = j.at("video");
    m.video_stream = v.at("stream");
    m.time_base = rational(v.at("time_base"));
    m.frame_rate = rational(v.at("frame_rate"));
    m.origin_pts = v.at("origin_pts");
    m.frames = v.at("frames");
    m.split = parse_split(j.at("split"));
    m.cpus_per_job = j.at("cpus_per_job");
    m.job_bytes = j.at("job_bytes");
    for (const json& s : j.at("segments")) {
      Segment seg;
      seg.index = s.at("index");
      seg.seek_pts = s.at("seek_pts");
      seg.preroll_pts = s.at("preroll_pts");
      seg.preroll_frames = s.at("preroll_frames");
      seg.begin_pts = s.at("begin_pts");
      seg.end_pts = s.at("end_pts").is_null() ? kToTheEnd : s.at("end_pts").get<std::int64_t>();
      seg.first_frame = s.at("first_frame");
      seg.frames = s.at("frames");
      m.segments.push_back(seg);
    }
    return m;
  } catch (const json::exception& e) {
    fail(ExitCode::kUsage, std::string("the manifest is not one vpipe wrote: ") + e.what());
  }
}

}  // namespace vpipe::segments
