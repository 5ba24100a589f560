#include "transform/filter_chain.hpp"

#include <algorithm>
#include <utility>

#include "common/error.hpp"

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

const FilterInfo& find_filter(const std::string& name) {
  const auto& registry = filter_registry();
  const auto it = std::find_if(registry.begin(), registry.end(),
                               [&](const FilterInfo& f) { return f.name == name; });
  if (it == registry.end()) {
    fail(ExitCode::kUsage, "unknown filter '" + name + "' (see `vpipe filters` for the list)");
  }
  return *it;
}

}  // namespace

FilterChain FilterChain::parse(std::string_view spec) {
  FilterChain chain;
  const std::string text = trim(spec);
  if (text.empty()) return chain;
  for (const std::string& item : split(text, ',')) {
    if (item.empty()) fail(ExitCode::kUsage, "filter chain '" + text + "' has an empty entry");
    const auto eq = item.find('=');
    const std::string name = trim(item.substr(0, eq));
    const FilterInfo& info = find_filter(name);
    const FilterArgs args = parse_args(
        name, eq == std::string::npos ? std::string_view{} : std::string_view(item).substr(eq + 1));
    chain.filters_.push_back(info.make(args));
  }
  chain.plan_buffers();
  return chain;
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

std::string FilterChain::describe() const {
  if (filters_.empty()) return "(none)";
  std::string text;
  for (const auto& f : filters_) {
    if (!text.empty()) text += ",";
    text += f->describe();
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
