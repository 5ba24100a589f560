#include "transform/filter_chain.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "common/error.hpp"
#include "transform/lavfi.hpp"

namespace vpipe::transform {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    parts.push_back(trim(s.substr(start, pos == std::string_view::npos ? pos : pos - start)));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

FilterArgs parse_args(const std::string& name, std::string_view text) {
  FilterArgs args;
  args.filter = name;
  if (text.empty()) return args;
  for (const std::string& part : split(text, ':')) {
    if (part.empty())
      fail(ExitCode::kUsage,
           "filter '" + name + "': empty argument in '" + std::string(text) + "'");
    const auto eq = part.find('=');
    if (eq == std::string::npos) {
      if (!args.named.empty()) {
        fail(ExitCode::kUsage,
             "filter '" + name + "': positional argument '" + part + "' after a named one");
      }
      args.positional.push_back(part);
      continue;
    }
    const std::string key = trim(part.substr(0, eq));
    if (key.empty())
      fail(ExitCode::kUsage, "filter '" + name + "': argument '" + part + "' has no name");
    if (!args.named.emplace(key, trim(part.substr(eq + 1))).second) {
      fail(ExitCode::kUsage, "filter '" + name + "': argument '" + key + "' given twice");
    }
  }
  return args;
}

const FilterInfo* find_filter(std::string_view name) {
  const auto& registry = filter_registry();
  const auto it = std::find_if(registry.begin(), registry.end(),
                               [&](const FilterInfo& f) { return f.name == name; });
  return it == registry.end() ? nullptr : &*it;
}

// The chain's entries, split at the commas that are not quoted ('...'), escaped (\,) or inside
// a link label ([...]), as ffmpeg's parser splits them. `graph` is set when the text is a whole
// filtergraph (labels, or chains separated by ';').
std::vector<std::string> split_entries(std::string_view text, bool& graph) {
  std::vector<std::string> entries;
  std::string current;
  bool quoted = false;
  bool label = false;
  graph = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      current += c;
      current += text[++i];
      continue;
    }
    if (c == '\'') quoted = !quoted;
    if (!quoted && c == '[') label = graph = true;
    if (!quoted && c == ']') label = false;
    if (!quoted && !label && (c == ',' || c == ';')) {
      graph = graph || c == ';';
      entries.push_back(trim(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (quoted) {
    fail(ExitCode::kUsage, "filter chain '" + std::string(text) + "' has an unclosed quote");
  }
  entries.push_back(trim(current));
  return entries;
}

std::string entry_name(const std::string& entry) {
  return trim(entry.substr(0, entry.find('=')));
}

// "scale@big" -> "scale": ffmpeg's instance names.
std::string base_name(const std::string& name) {
  return name.substr(0, name.find('@'));
}

}  // namespace

bool is_ffmpeg_name(const std::string& name) {
  // vpipe's filters whose names ffmpeg has too (filter_chain_test checks this list).
  static const std::set<std::string, std::less<>> kShared = {
      "boxblur", "crop",    "drawtext", "eq",     "gblur",   "hflip",
      "hue",     "overlay", "pad",      "rotate", "unsharp", "vflip"};
  if (find_filter(name) != nullptr) return kShared.count(name) != 0;
  return lavfi_has_filter(name);
}

FilterChain FilterChain::parse(std::string_view spec, bool ffmpeg_filters) {
  FilterChain chain;
  const std::string text = trim(spec);
  if (text.empty()) return chain;
  bool graph = false;
  const std::vector<std::string> entries = split_entries(text, graph);
  for (const std::string& item : entries) {
    if (item.empty()) fail(ExitCode::kUsage, "filter chain '" + text + "' has an empty entry");
  }
  // A filtergraph with labels or several chains is ffmpeg's alone: one graph for all of it.
  if (graph && !ffmpeg_filters) fail(ExitCode::kUsage, "a filtergraph is ffmpeg's: not taken here");
  if (graph) {
    std::string why;
    for (const std::string& item : entries) {
      if (std::string reason = lavfi_sequential_reason(item); why.empty()) why = reason;
    }
    chain.filters_.push_back(std::make_unique<LavfiGraph>(text, why));
    chain.plan_buffers();
    return chain;
  }
  // A name ffmpeg has means ffmpeg's filter, with ffmpeg's arguments; vpipe's own filter of that
  // name is cv.NAME. Consecutive ffmpeg filters share one graph.
  std::string lavfi_run;
  std::string lavfi_why;
  const auto end_lavfi_run = [&] {
    if (lavfi_run.empty()) return;
    chain.filters_.push_back(std::make_unique<LavfiGraph>(lavfi_run, lavfi_why));
    lavfi_run.clear();
    lavfi_why.clear();
  };
  for (const std::string& item : entries) {
    std::string name = entry_name(item);
    const bool cv = name.rfind("cv.", 0) == 0;
    if (cv) name = name.substr(3);
    const FilterInfo* own = find_filter(name);
    if (!cv && !ffmpeg_filters && (own == nullptr || is_ffmpeg_name(name))) {
      fail(ExitCode::kUsage, "filter '" + name + "' would be ffmpeg's: not taken here");
    }
    if (!cv && is_ffmpeg_name(base_name(name))) {
      if (std::string reason = lavfi_sequential_reason(item); lavfi_why.empty()) {
        lavfi_why = reason;
      }
      lavfi_run += (lavfi_run.empty() ? "" : ",") + item;
      continue;
    }
    if (own == nullptr) {
      fail(ExitCode::kUsage, cv ? "unknown filter 'cv." + name + "': vpipe has no filter '" + name +
                                      "' (see `vpipe filters`)"
                                : "unknown filter '" + name +
                                      "': neither vpipe's nor ffmpeg's (see `vpipe filters`)");
    }
    end_lavfi_run();
    const auto eq = item.find('=');
    // Errors name the filter as written: cv.crop, or gray.
    const FilterArgs args = parse_args(
        cv ? "cv." + name : name,
        eq == std::string::npos ? std::string_view{} : std::string_view(item).substr(eq + 1));
    chain.filters_.push_back(own->make(args));
  }
  end_lavfi_run();
  chain.plan_buffers();
  return chain;
}

FilterChain::Split FilterChain::split_at_order(std::string_view spec) {
  const std::string text = trim(spec);
  bool graph = false;
  const std::vector<std::string> entries =
      text.empty() ? std::vector<std::string>{} : split_entries(text, graph);
  Split split;
  for (const std::string& item : entries) {
    if (split.waits_for_end.empty() && lavfi_holds_to_end(item))
      split.waits_for_end = lavfi_own_frames_reason(item);
  }
  if (graph) {
    const bool own = std::any_of(entries.begin(), entries.end(), [](const std::string& item) {
      return !lavfi_own_frames_reason(item).empty();
    });
    (own ? split.own_frames : split.in_order) = text;
    return split;
  }
  std::string first_own;  // the filter the encode stage's graph starts with
  for (const std::string& item : entries) {
    std::string name = entry_name(item);
    const bool cv = name.rfind("cv.", 0) == 0;
    if (cv) name = name.substr(3);
    const bool ffmpeg = !cv && is_ffmpeg_name(base_name(name));
    if (first_own.empty() && ffmpeg && !lavfi_own_frames_reason(item).empty()) first_own = name;
    if (!first_own.empty() && !ffmpeg) {
      fail(ExitCode::kUsage, "filter '" + entry_name(item) + "' cannot come after '" + first_own +
                                 "', which gives frames of its own: put it before, or use "
                                 "ffmpeg's filter of that kind");
    }
    const FilterInfo* own = find_filter(name);
    const bool ordered = !split.in_order.empty() || (ffmpeg ? !lavfi_sequential_reason(item).empty()
                                                            : own != nullptr && own->sequential);
    std::string& part = !first_own.empty() ? split.own_frames
                        : ordered          ? split.in_order
                                           : split.per_frame;
    part += (part.empty() ? "" : ",") + item;
  }
  return split;
}

namespace {

std::string join_entries(const std::vector<std::string>& entries, std::size_t from,
                         std::size_t to) {
  std::string text;
  for (std::size_t i = from; i < to; ++i) text += (text.empty() ? "" : ",") + entries[i];
  return text;
}

}  // namespace

std::vector<std::string> FilterChain::entries(std::string_view spec) {
  const std::string text = trim(spec);
  bool graph = false;
  return text.empty() ? std::vector<std::string>{} : split_entries(text, graph);
}

std::string FilterChain::shared_prefix(const std::vector<std::string>& specs) {
  std::vector<std::vector<std::string>> chains;
  for (const std::string& spec : specs) {
    const std::string text = trim(spec);
    bool graph = false;
    chains.push_back(text.empty() ? std::vector<std::string>{} : split_entries(text, graph));
    if (graph) return {};
  }
  if (chains.empty()) return {};
  std::size_t n = 0;
  for (; n < chains[0].size(); ++n) {
    const std::string& item = chains[0][n];
    const bool everywhere = std::all_of(
        chains.begin(), chains.end(), [&](const auto& c) { return c.size() > n && c[n] == item; });
    if (!everywhere || split_at_order(item).per_frame.empty()) break;
  }
  return join_entries(chains[0], 0, n);
}

std::string FilterChain::after_prefix(std::string_view spec, std::string_view prefix) {
  const std::string text = trim(spec);
  const std::string head = trim(prefix);
  if (head.empty()) return text;
  bool graph = false;
  const std::vector<std::string> entries = split_entries(text, graph);
  const std::vector<std::string> skip = split_entries(head, graph);
  if (skip.size() > entries.size() || !std::equal(skip.begin(), skip.end(), entries.begin()))
    fail(ExitCode::kRunFailed, "filter chain '" + text + "' does not start with '" + head + "'");
  return join_entries(entries, skip.size(), entries.size());
}

void FilterChain::plan_buffers() {
  first_writer_ = filters_.size();
  for (std::size_t i = 0; i < filters_.size(); ++i) {
    if (!filters_[i]->is_view()) {
      first_writer_ = i;
      break;
    }
  }
  std::size_t switches = 0;
  for (std::size_t i = first_writer_ + 1; i < filters_.size(); ++i) {
    if (!filters_[i]->is_view() && !filters_[i]->in_place()) ++switches;
  }
  first_writes_to_spare_ = switches % 2 == 0;
  needs_scratch_ = switches > 0;
}

std::vector<Geometry> FilterChain::plan(Geometry input) const {
  std::vector<Geometry> steps{input};
  for (const auto& f : filters_) steps.push_back(f->output_geometry(steps.back()));
  return steps;
}

std::uint64_t FilterChain::max_picture_bytes(Geometry input) const {
  std::uint64_t most = 0;
  for (const Geometry& g : plan(input)) most = std::max(most, picture_bytes(g));
  return most;
}

bool FilterChain::sequential() const {
  return std::any_of(filters_.begin(), filters_.end(),
                     [](const auto& f) { return f->sequential(); });
}

std::string FilterChain::why_sequential() const {
  for (const auto& f : filters_) {
    if (f->sequential()) return f->why_sequential();
  }
  return {};
}

std::uint64_t FilterChain::frames_copied() const {
  std::uint64_t copied = 0;
  for (const auto& f : filters_) copied += f->frames_copied();
  return copied;
}

std::string FilterChain::describe() const {
  if (filters_.empty()) return "(none)";
  std::string text;
  for (const auto& f : filters_) {
    if (!text.empty()) text += ",";
    std::string step = f->describe();
    // vpipe's own filter under a name ffmpeg also has is written cv.NAME.
    if (dynamic_cast<const LavfiGraph*>(f.get()) == nullptr && is_ffmpeg_name(entry_name(step))) {
      step = "cv." + step;
    }
    text += step;
  }
  return text;
}

FilterChain::Result FilterChain::run(const Picture& input, std::uint8_t* spare,
                                     std::uint8_t* scratch, const FrameContext& frame) const {
  Picture current = input;
  std::uint8_t* where = nullptr;  // null: still a view of the (read-only) input
  for (std::size_t i = 0; i < filters_.size(); ++i) {
    const Filter& f = *filters_[i];
    if (f.is_view()) {
      f.apply(current, current, frame);
      continue;
    }
    if (where == nullptr) {
      where = first_writes_to_spare_ ? spare : scratch;
      Picture out = layout_picture(where, f.output_geometry(current.geometry()));
      if (f.can_write_elsewhere()) {
        f.apply(current, out, frame);
      } else {
        for (int p = 0; p < 3; ++p) current.plane(p).copyTo(out.plane(p));
        f.apply(out, out, frame);
      }
      current = out;
    } else if (f.in_place()) {
      f.apply(current, current, frame);
    } else {
      where = where == spare ? scratch : spare;
      Picture out = layout_picture(where, f.output_geometry(current.geometry()));
      f.apply(current, out, frame);
      current = out;
    }
  }
  return {current, where != nullptr};
}

}  // namespace vpipe::transform
