#include "target/config_edit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <vector>

#include "config/config.hpp"

namespace swiftness::target {
namespace {

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(s);
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

bool blank_or_comment(const std::string& l) {
  auto p = l.find_first_not_of(" \t");
  return p == std::string::npos || l[p] == '#';
}

size_t indent_of(const std::string& l) {
  auto p = l.find_first_not_of(' ');
  return p == std::string::npos ? l.size() : p;
}

std::string errors_of(const config::LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors)
    s += e.to_string() + "\n";
  return s;
}

// A plain scalar is safe to write unquoted; otherwise use a double-quoted one.
std::string scalar(const std::string& v) {
  bool plain = !v.empty();
  for (char c : v)
    plain &= std::isalnum(uint8_t(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  if (plain) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

YAML::Node find_lun(const YAML::Node& luns, const std::string& name) {
  for (size_t i = 0; i < luns.size(); ++i) {
    const YAML::Node n = luns[i];
    if (!n.IsMap()) continue;
    std::string nm = n["name"] ? n["name"].as<std::string>("") : "";
    if (nm.empty() && n["id"]) nm = "lun" + n["id"].as<std::string>("");
    if (nm == name) return n;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace

EditResult add_lun(const std::string& yaml, const std::string& file, const NewLun& lun) {
  auto before = config::load_string(yaml, file);
  if (!before.config) return {{}, "the configuration has errors already:\n" + errors_of(before)};
  for (const auto& l : before.config->luns)
    if (l.name == lun.name) return {{}, "a LUN named " + lun.name + " exists already"};
  uint32_t id = 0;
  for (const auto& l : before.config->luns)
    id = std::max(id, l.id + 1);

  YAML::Node root = YAML::Load(yaml);
  YAML::Node luns = root["luns"];
  if (!luns.IsSequence() || luns.size() == 0 || luns.Style() == YAML::EmitterStyle::Flow)
    return {{}, "`luns:` is not a block list with an entry; add the LUN by hand"};
  std::vector<std::string> lines = split_lines(yaml);
  // The column of the items' dashes, from the first item's line.
  const int first_line = luns[0].Mark().line;
  const std::string& fl = lines[size_t(first_line)];
  const size_t dash = fl.find('-');
  if (dash == std::string::npos || dash >= size_t(luns[0].Mark().column))
    return {{}, "cannot find the layout of the `luns:` list; add the LUN by hand"};
  // The list goes on while lines are indented deeper than the dash, or are dashes at its column.
  size_t end = size_t(luns[luns.size() - 1].Mark().line) + 1;
  size_t last_content = end - 1;
  for (size_t i = end; i < lines.size(); ++i) {
    if (blank_or_comment(lines[i])) continue;
    if (indent_of(lines[i]) > dash ||
        (indent_of(lines[i]) == dash && lines[i].compare(dash, 1, "-") == 0)) {
      last_content = i;
      continue;
    }
    break;
  }
  const std::string pad(dash, ' ');
  std::vector<std::string> block;
  block.push_back(pad + "- id: " + std::to_string(id));
  auto key = [&](const char* k, const std::string& v) {
    if (!v.empty()) block.push_back(pad + "  " + k + ": " + scalar(v));
  };
  key("name", lun.name);
  block.push_back(pad + "  backend: swift");
  key("container", lun.container.empty() ? lun.name : lun.container);
  key("size", lun.size);
  key("block_size", lun.block_size);
  key("chunk_size", lun.chunk_size);
  key("storage_policy", lun.storage_policy);
  lines.insert(lines.begin() + std::ptrdiff_t(last_content + 1), block.begin(), block.end());
  EditResult out{join_lines(lines), {}};

  auto after = config::load_string(out.text, file);
  if (!after.config) return {{}, "the new entry is not valid:\n" + errors_of(after)};
  if (after.config->luns.size() != before.config->luns.size() + 1 ||
      after.config->luns.back().name != lun.name)
    return {{}, "the edited file does not show the new LUN; add it by hand"};
  return out;
}

EditResult set_lun_size(const std::string& yaml, const std::string& file, const std::string& name,
                        const std::string& size) {
  auto before = config::load_string(yaml, file);
  if (!before.config) return {{}, "the configuration has errors already:\n" + errors_of(before)};
  const config::Lun* old = nullptr;
  for (const auto& l : before.config->luns)
    if (l.name == name) old = &l;
  if (!old) return {{}, "no LUN named " + name};
  auto bytes = config::parse_size(size);
  if (!bytes) return {{}, "not a size: " + size};
  if (*bytes < old->size)
    return {{},
            "shrinking is refused (" + std::to_string(old->size) + " -> " + std::to_string(*bytes) +
                " bytes): data past the new end would be lost"};
  if (*bytes == old->size) return {yaml, {}};

  YAML::Node root = YAML::Load(yaml);
  YAML::Node lun = find_lun(root["luns"], name);
  if (!lun || !lun["size"]) return {{}, "cannot find the size of LUN " + name};
  const YAML::Mark m = lun["size"].Mark();
  std::vector<std::string> lines = split_lines(yaml);
  std::string& l = lines[size_t(m.line)];
  size_t b = size_t(m.column), e = b;
  if (b < l.size() && (l[b] == '"' || l[b] == '\'')) {
    e = l.find(l[b], b + 1);
    if (e == std::string::npos) return {{}, "cannot edit the size of LUN " + name};
    ++e;
  } else {
    while (e < l.size() && l[e] != ',' && l[e] != '}' && l[e] != '#' &&
           !(l[e] == ' ' && (e + 1 >= l.size() || l[e + 1] == '#')))
      ++e;
    while (e > b && l[e - 1] == ' ')
      --e;
  }
  l.replace(b, e - b, scalar(size));
  EditResult out{join_lines(lines), {}};
  auto after = config::load_string(out.text, file);
  if (!after.config) return {{}, "the edited file is not valid:\n" + errors_of(after)};
  for (const auto& x : after.config->luns)
    if (x.name == name && x.size == *bytes) return out;
  return {{}, "the edited file does not show the new size; edit it by hand"};
}

core::Result<void> replace_file(const std::string& path, const std::string& text) {
  struct stat st {};
  const mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0640;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return std::error_code(errno, std::system_category());
  auto fail = [&](int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::error_code(err, std::system_category());
  };
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) return fail(errno);
    off += size_t(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) return fail(errno);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return std::error_code(err, std::system_category());
  }
  return {};
}

}  // namespace swiftness::target
