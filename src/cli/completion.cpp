#include "cli/completion.hpp"

#include <algorithm>
#include <regex>
#include <sstream>

namespace vpipe::cli {
namespace {

// What completes one command: its subcommands, its flags, and for each flag that takes a value
// the words it may be (empty: any, completed as a file name).
struct Command {
  std::string path;  // "" for vpipe itself, "run", "segments submit"
  std::vector<std::string> subcommands;
  std::vector<std::string> flags;
  std::vector<std::pair<std::string, std::string>> valued;  // flag, its choices ("a b c")
};

// "{auto,json,none}" in CLI11's type name (an IsMember check) as "auto json none".
std::string choices_of(const CLI::Option& option) {
  static const std::regex set(R"(\{([^{}]*)\})");
  std::smatch m;
  const std::string type = option.get_type_name();
  if (!std::regex_search(type, m, set)) return {};
  std::string words = m[1].str();
  std::replace(words.begin(), words.end(), ',', ' ');
  return words;
}

void collect(const CLI::App& app, const std::string& path, std::vector<Command>& commands) {
  Command command;
  command.path = path;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_group().empty()) continue;  // hidden
    command.subcommands.push_back(sub->get_name());
    collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), commands);
  }
  for (const CLI::Option* option : app.get_options({})) {
    if (option->get_group().empty() || option->get_positional()) continue;
    std::vector<std::string> names;
    for (const auto& l : option->get_lnames()) names.push_back("--" + l);
    for (const auto& s : option->get_snames()) names.push_back("-" + s);
    for (const auto& name : names) {
      command.flags.push_back(name);
      if (option->get_type_size_max() > 0) command.valued.emplace_back(name, choices_of(*option));
    }
  }
  commands.push_back(std::move(command));
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

}  // namespace

std::string bash_completion(const CLI::App& app, const std::vector<ExtraFlags>& extra) {
  std::vector<Command> commands;
  collect(app, "", commands);
  for (const ExtraFlags& more : extra) {
    for (Command& command : commands) {
      if (command.path != more.command) continue;
      for (const auto& [flag, value] : more.flags) {
        command.flags.push_back(flag);
        if (value) command.valued.emplace_back(flag, "");
      }
      for (const auto& [flag, words] : more.choices) {
        for (auto& [name, choices] : command.valued) {
          if (name == flag) choices = joined(words);
        }
      }
    }
  }
  std::vector<std::string> all_subcommands;
  for (const Command& c : commands)
    all_subcommands.insert(all_subcommands.end(), c.subcommands.begin(), c.subcommands.end());

  std::ostringstream out;
  out << "# bash completion for vpipe, made by `vpipe completion bash` from vpipe's own flags.\n"
         "_vpipe() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
         "  local path='' word i\n"
         "  # The command so far: the words that are subcommands, in order.\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    word=${COMP_WORDS[i]}\n"
         "    case \" "
      << joined(all_subcommands)
      << " \" in\n"
         "      *\" $word \"*) path=${path:+$path }$word ;;\n"
         "    esac\n"
         "  done\n"
         "  local subcommands='' flags='' valued=''\n"
         "  case $path in\n";
  for (const Command& c : commands) {
    out << "    '" << c.path << "')\n";
    out << "      subcommands='" << joined(c.subcommands) << "'\n";
    out << "      flags='" << joined(c.flags) << "'\n";
    // The flags that take a value, and the words each may be (none: a file name).
    out << "      case $prev in\n";
    for (const auto& [flag, choices] : c.valued) {
      out << "        '" << flag << "') ";
      if (choices.empty()) {
        out << "COMPREPLY=($(compgen -f -- \"$cur\")); compopt -o filenames 2>/dev/null; return "
               ";;\n";
      } else {
        out << "COMPREPLY=($(compgen -W '" << choices << "' -- \"$cur\")); return ;;\n";
      }
    }
    out << "      esac ;;\n";
  }
  out << "  esac\n"
         "  if [[ $cur == -* ]]; then\n"
         "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
         "  elif [[ -n $subcommands ]]; then\n"
         "    COMPREPLY=($(compgen -W \"$subcommands\" -- \"$cur\"))\n"
         "  else\n"
         "    COMPREPLY=($(compgen -f -- \"$cur\")); compopt -o filenames 2>/dev/null\n"
         "  fi\n"
         "}\n"
         "complete -F _vpipe vpipe\n";
  return out.str();
}

}  // namespace vpipe::cli
