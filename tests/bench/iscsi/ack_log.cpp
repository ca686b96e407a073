#include "tests/bench/iscsi/ack_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace swiftness::bench {
namespace {

constexpr std::string_view kMagic = "iscsi-rwverify-ack-log v1";

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::unique_ptr<AckLogWriter> AckLogWriter::create(const std::string& path, uint64_t seed,
                                                   uint32_t block_size, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = fmt::format("--ack-log {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<AckLogWriter> w(new AckLogWriter(fd));
  if (!write_all(fd, fmt::format("{} seed={} block_size={}\n", kMagic, seed, block_size))) {
    *error = fmt::format("--ack-log {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  return w;
}

AckLogWriter::~AckLogWriter() {
  ::close(fd_);
}

bool AckLogWriter::append(uint64_t lba, uint64_t blocks) {
  // The page cache is enough: the log must survive the target being killed, not this machine.
  if (!write_all(fd_, fmt::format("{} {}\n", lba, blocks))) return false;
  ++extents_;
  return true;
}

std::optional<AckLog> read_ack_log(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = fmt::format("--ack-log {}: cannot open", path);
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  AckLog log;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // torn last line: the writer died mid-append
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line_no == 1) {
      unsigned long long seed = 0;
      unsigned block_size = 0;
      if (line.rfind(kMagic, 0) != 0 ||
          std::sscanf(line.c_str() + kMagic.size(), " seed=%llu block_size=%u", &seed,
                      &block_size) != 2) {
        *error = fmt::format("{}:1: not an iscsi-rwverify ack log", path);
        return std::nullopt;
      }
      log.seed = seed;
      log.block_size = block_size;
      continue;
    }
    unsigned long long lba = 0, blocks = 0;
    char extra = 0;
    if (std::sscanf(line.c_str(), "%llu %llu %c", &lba, &blocks, &extra) != 2 || blocks == 0) {
      *error = fmt::format("{}:{}: expected '<lba> <blocks>', got '{}'", path, line_no, line);
      return std::nullopt;
    }
    log.extents.push_back(LbaRange{lba, blocks});
  }
  if (line_no == 0) {
    *error = fmt::format("{}: empty ack log", path);
    return std::nullopt;
  }
  return log;
}

}  // namespace swiftness::bench
