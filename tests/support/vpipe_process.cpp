#include "support/vpipe_process.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace vpipe::test {
namespace {

// `program` (a path, or a name looked up in PATH) with `args`.
pid_t spawn(const std::string& program, const std::vector<std::string>& args, int out_fd,
            int err_fd) {
  std::vector<char*> argv;
  std::string bin = program;
  argv.push_back(bin.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its own group, like a shell job, so tests can signal it alone
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

pid_t start_logged(const std::string& program, const std::vector<std::string>& args,
                   const std::string& log_prefix) {
  const int out =
      open((log_prefix + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err =
      open((log_prefix + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t pid = spawn(program, args, out, err);
  close(out);
  close(err);
  return pid;
}

int bound_port(int type) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

int decode_status(int status) {
  return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace

std::string vpipe_binary() {
  const char* chosen = std::getenv("VPIPE_TEST_BINARY");
  return chosen != nullptr && *chosen != '\0' ? chosen : VPIPE_BINARY;
}

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "vpipe-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  return tmpl;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int count_lines(const std::string& text) {
  int n = 0;
  for (char c : text) n += c == '\n';
  if (!text.empty() && text.back() != '\n') ++n;
  return n;
}

pid_t start_vpipe(const std::vector<std::string>& args, const std::string& log_prefix) {
  return start_logged(vpipe_binary(), args, log_prefix);
}

pid_t start_program(const std::string& program, const std::vector<std::string>& args,
                    const std::string& log_prefix) {
  return start_logged(program, args, log_prefix);
}

int stop_program(pid_t pid) {
  kill(pid, SIGTERM);
  return wait_vpipe(pid, 20);
}

int wait_vpipe(pid_t pid, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return decode_status(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1000;
}

RunResult run_vpipe(const std::vector<std::string>& args, int timeout_s) {
  const std::string dir = make_temp_dir();
  const pid_t pid = start_vpipe(args, dir + "/vpipe");
  RunResult r;
  r.exit_code = wait_vpipe(pid, timeout_s);
  if (r.exit_code == -1000) ADD_FAILURE() << "vpipe did not finish within " << timeout_s << " s";
  r.out = read_file(dir + "/vpipe.out");
  r.err = read_file(dir + "/vpipe.err");
  std::filesystem::remove_all(dir);
  return r;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return kids;
  while (dirent* e = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(close_paren + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') kids.push_back(pid);
  }
  closedir(proc);
  return kids;
}

bool is_alive(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() &&
         stat[close_paren + 2] != 'Z';
}

std::string comm_of(pid_t pid) {
  std::string c = read_file("/proc/" + std::to_string(pid) + "/comm");
  while (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

std::string cpus_allowed(pid_t pid) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Cpus_allowed_list:", 0) == 0) {
      const auto v = line.find_first_not_of(" \t", 18);
      return v == std::string::npos ? "" : line.substr(v);
    }
  }
  return "";
}

namespace {
std::set<pid_t> run_segment_holders() {
  std::set<pid_t> holders;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return holders;
  while (dirent* e = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string maps = read_file("/proc/" + std::to_string(pid) + "/maps");
    // Only vpipe's own processes: benchmarks and fuzzers map segments of their own.
    if (maps.find("memfd:vpipe-run") != std::string::npos && comm_of(pid).rfind("vpipe", 0) == 0) {
      holders.insert(pid);
    }
  }
  closedir(proc);
  return holders;
}

// Holders that existed before this test program started (another program's run on a shared
// machine) are not this program's leaks.
const std::set<pid_t> kHoldersAtStart = run_segment_holders();
}  // namespace

int processes_holding_run_segments() {
  int leaked = 0;
  for (pid_t pid : run_segment_holders()) leaked += kHoldersAtStart.count(pid) == 0;
  return leaked;
}

int dev_shm_vpipe_entries() {
  int n = 0;
  DIR* shm = opendir("/dev/shm");
  if (shm == nullptr) return 0;
  while (dirent* e = readdir(shm)) {
    if (std::string(e->d_name).find("vpipe") != std::string::npos) ++n;
  }
  closedir(shm);
  return n;
}

int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int free_udp_port() {
  return bound_port(SOCK_DGRAM);
}

int free_tcp_port() {
  return bound_port(SOCK_STREAM);
}

}  // namespace vpipe::test
