// `vpipe completion bash`: a bash completion script made from the command line's own definition
// (CLI11's subcommands and options, and the ffmpeg spellings `vpipe run` takes), so that it never
// falls behind the flags. The build writes it (build/vpipe.bash) and installs it where
// bash-completion looks; `source <(vpipe completion bash)` loads it in a running shell.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

namespace vpipe::cli {

// `extra`: more of one command's flags, as (command path, flags with whether each takes a value)
// {"run", {{"-c:v", true}, {"-an", false}}}, and the words some of its flags take beyond CLI11's
// own checks: {"--progress", {"auto", "json", "none"}}.
struct ExtraFlags {
  std::string command;
  std::vector<std::pair<std::string, bool>> flags;
  std::vector<std::pair<std::string, std::vector<std::string>>> choices;
};

std::string bash_completion(const CLI::App& app, const std::vector<ExtraFlags>& extra = {});

}  // namespace vpipe::cli
