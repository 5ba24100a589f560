// The shipped deployment files (deploy/) against the product they deploy: every vpipe command
// line in them is one this vpipe accepts, every stop leaves time for the drain, every metrics port
// is the one vpipe serves, and the container's runtime packages hold every library the built
// binary links or loads. No container runtime or cluster is needed: these are the facts a typo
// or a renamed flag would break.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "plan/options.hpp"
#include "plan/run_flags.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

const std::string kDeploy = std::string(VPIPE_SOURCE_DIR) + "/deploy/";

// `vpipe ARGS` as vpipe parses it (ffmpeg spellings included): the run's options, validated.
plan::RunOptions run_options(std::vector<std::string> args) {
  EXPECT_FALSE(args.empty());
  if (args.empty()) return {};
  EXPECT_EQ(args.front(), "run");
  args.erase(args.begin());
  plan::RunOptions o = plan::parse_run_args(plan::translate_ffmpeg_spellings(args));
  plan::validate(o);
  return o;
}

std::vector<std::string> strings(const YAML::Node& list) {
  std::vector<std::string> out;
  for (const auto& item : list) out.push_back(item.as<std::string>());
  return out;
}

int metrics_port(const plan::RunOptions& o) {
  return std::stoi(o.metrics.substr(o.metrics.rfind(':') + 1));
}

std::string output_of(const std::string& command) {
  std::string text;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[512];
  while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) text += buffer;
  if (pipe != nullptr) pclose(pipe);
  return text;
}

TEST(DeployTest, KubernetesCommandsAreValidAndStopsOutlastTheDrain) {
  int containers = 0;
  for (const char* file : {"kubernetes/live-deployment.yaml", "kubernetes/batch-job.yaml"}) {
    for (const YAML::Node& doc : YAML::LoadAllFromFile(kDeploy + file)) {
      const std::string kind = doc["kind"].as<std::string>();
      if (kind != "Deployment" && kind != "Job") continue;
      const YAML::Node pod = doc["spec"]["template"];
      const YAML::Node spec = pod["spec"];
      for (const YAML::Node& c : spec["containers"]) {
        ++containers;
        SCOPED_TRACE(std::string(file) + ": " + c["name"].as<std::string>());
        const plan::RunOptions o = run_options(strings(c["args"]));
        EXPECT_GT(spec["terminationGracePeriodSeconds"].as<double>(), o.drain_timeout_s);
        EXPECT_TRUE(c["resources"]["limits"]["cpu"]) << "workers are sized from the CPU limit";
        if (!o.metrics.empty()) {
          EXPECT_EQ(c["ports"][0]["containerPort"].as<int>(), metrics_port(o));
          EXPECT_EQ(pod["metadata"]["annotations"]["prometheus.io/port"].as<std::string>(),
                    std::to_string(metrics_port(o)));
        }
        if (kind == "Job") {
          EXPECT_FALSE(o.metrics_push.empty()) << "a Job's final metrics are pushed";
          EXPECT_EQ(spec["restartPolicy"].as<std::string>(), "Never");
        }
      }
    }
  }
  EXPECT_EQ(containers, 2);
}

TEST(DeployTest, SystemdUnitIsANotifyServiceWhoseStopOutlastsTheDrain) {
  std::ifstream in(kDeploy + "systemd/vpipe@.service");
  std::map<std::string, std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || line[0] == '[' || eq == std::string::npos) continue;
    keys[line.substr(0, eq)] = line.substr(eq + 1);
  }
  EXPECT_EQ(keys["Type"], "notify");
  EXPECT_EQ(keys["NotifyAccess"], "main");
  EXPECT_FALSE(keys["WatchdogSec"].empty());
  EXPECT_EQ(keys["KillMode"], "mixed");
  EXPECT_THAT(keys["SuccessExitStatus"], HasSubstr("255")) << "a drained stop is what stop asks";
  EXPECT_EQ(keys["RestartPreventExitStatus"], "2");
  // ExecStart, with the example config in place of /etc/vpipe/%i.yaml.
  std::istringstream exec(keys["ExecStart"]);
  std::vector<std::string> args;
  for (std::string word; exec >> word;) args.push_back(word);
  ASSERT_GE(args.size(), 2u);
  EXPECT_EQ(args[0], "/usr/local/bin/vpipe");
  args.erase(args.begin());
  for (auto& a : args) {
    if (a == "/etc/vpipe/%i.yaml") a = kDeploy + "systemd/live.yaml";
  }
  const plan::RunOptions o = run_options(args);
  EXPECT_EQ(o.input, "udp://0.0.0.0:5000");
  EXPECT_GT(std::stod(keys["TimeoutStopSec"]), o.drain_timeout_s);
}

// systemd's own linter on the unit, with ExecStart pointed at the built vpipe: an unknown
// directive, a bad value or a misspelt section fails here.
TEST(DeployTest, SystemdVerifiesTheUnit) {
  if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "systemd-analyze is not installed here";
  const std::string dir = make_temp_dir();
  std::ifstream in(kDeploy + "systemd/vpipe@.service");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text = std::regex_replace(text, std::regex("/usr/local/bin/vpipe"), vpipe_binary());
  std::ofstream(dir + "/vpipe@.service") << text;
  const std::string said = output_of("systemd-analyze verify '" + dir + "/vpipe@.service' 2>&1");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(said, "") << "systemd-analyze verify: " << said;
}

TEST(DeployTest, ComposeRunsAValidCommandWithItsMonitoringFiles) {
  const YAML::Node compose = YAML::LoadFile(kDeploy + "docker/compose.yaml");
  const YAML::Node vpipe = compose["services"]["vpipe"];
  const plan::RunOptions o = run_options(strings(vpipe["command"]));
  const std::string grace = vpipe["stop_grace_period"].as<std::string>();
  EXPECT_GT(std::stod(grace), o.drain_timeout_s);
  // Every file a service mounts from the repository exists.
  int mounts = 0;
  for (const auto& service : compose["services"]) {
    for (const auto& volume : service.second["volumes"]) {
      const std::string source =
          volume.as<std::string>().substr(0, volume.as<std::string>().find(':'));
      if (source.rfind(".", 0) != 0) continue;
      ++mounts;
      EXPECT_TRUE(std::filesystem::exists(kDeploy + "docker/" + source)) << source;
    }
  }
  EXPECT_GE(mounts, 4);
  const YAML::Node prometheus = YAML::LoadFile(kDeploy + "docker/prometheus.yml");
  EXPECT_EQ(prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0].as<std::string>(),
            "vpipe:" + std::to_string(metrics_port(o)));
}

TEST(DeployTest, DockerfileRunsAsAUserUnderAnInitAndShipsEveryLibraryVpipeLoads) {
  std::ifstream in(kDeploy + "docker/Dockerfile");
  std::stringstream text;
  text << in.rdbuf();
  const std::string dockerfile = text.str();
  EXPECT_THAT(dockerfile, HasSubstr("\nSTOPSIGNAL SIGTERM\n"));
  EXPECT_THAT(dockerfile, HasSubstr("\nUSER vpipe\n"));
  EXPECT_THAT(dockerfile, HasSubstr("ENTRYPOINT [\"/usr/bin/tini\", \"--\", \"vpipe\"]"));
  // The runtime stage's packages: the words of its apt-get install.
  const std::string runtime = dockerfile.substr(dockerfile.rfind("\nFROM "));
  std::set<std::string> packages;
  const std::regex word(R"([a-z0-9][a-z0-9.+-]+)");
  const std::string install =
      runtime.substr(runtime.find("--no-install-recommends"),
                     runtime.find("rm -rf") - runtime.find("--no-install-recommends"));
  for (std::sregex_iterator it(install.begin(), install.end(), word), end; it != end; ++it)
    packages.insert(it->str());
  // Every library the built program links (its NEEDED entries, found where the loader finds
  // them) and the two it loads at run time, as Debian packages; the C and C++ runtimes are in the
  // base. The program is vpipe-core, beside the static `vpipe` launcher.
  const std::string binary =
      (std::filesystem::path(vpipe_binary()).parent_path() / "vpipe-core").string();
  std::vector<std::string> paths;
  std::istringstream ldd(output_of("ldd " + binary));
  const std::string needed = output_of("readelf -d " + binary);
  for (std::string l; std::getline(ldd, l);) {
    std::smatch m;
    if (!std::regex_search(l, m, std::regex(R"(^\s*(\S+) => (\S+))"))) continue;
    if (needed.find("[" + m[1].str() + "]") != std::string::npos) paths.push_back(m[2]);
  }
  ASSERT_GT(paths.size(), 10u);
  for (const char* loaded : {"libavfilter.so.8", "libavdevice.so.59"})
    paths.push_back("/usr/lib/x86_64-linux-gnu/" + std::string(loaded));
  const std::set<std::string> in_base = {"libc6", "libstdc++6", "libgcc-s1"};
  for (const std::string& path : paths) {
    // dpkg knows a file by the path its package installed (/lib or /usr/lib, merged /usr).
    const std::string real = output_of("readlink -f " + path + " | tr -d '\\n'");
    std::string owner;
    for (const std::string& candidate :
         {path, real, real.substr(real.rfind("/usr/", 0) == 0 ? 4 : 0)}) {
      if (owner.empty()) owner = output_of("dpkg -S " + candidate + " 2>/dev/null");
    }
    const std::string package = owner.substr(0, owner.find(':'));
    ASSERT_FALSE(package.empty()) << path;
    if (in_base.count(package) == 0) {
      EXPECT_THAT(packages, Contains(package)) << path;
    }
  }
}

}  // namespace
}  // namespace vpipe::test
