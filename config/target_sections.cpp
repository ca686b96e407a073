// The iSCSI side of the configuration: the target (name, portals, CHAP, initiator allow-list)
// and its LUNs (ids, names, backends, geometry), with the checks that span LUNs (unique ids,
// names, containers and paths).
#include <regex>
#include <set>

#include "config/reader.hpp"

namespace swiftness::config::detail {
namespace {

std::optional<ChapSecret> read_chap(Reader& r, const YAML::Node& t, const std::string& path) {
  if (!t) return std::nullopt;
  if (!r.map(t, path)) return std::nullopt;
  r.check_keys(t, path, {"user", "secret", "secret_file", "secret_env"});
  auto user = r.str(t, path, "user", true);
  auto secret = r.secret(t, path, "secret", true);
  if (!user || !secret) return std::nullopt;
  // RFC 7143 §9.2.1: a secret of less than 96 bits needs IPsec, which we do not do: refuse it.
  // The Windows initiator accepts 12 to 16 bytes only: warn above that.
  if (secret->size() < 12)
    r.error(t, Reader::join(path, "secret"),
            "is " + std::to_string(secret->size()) +
                " bytes; RFC 7143 requires at least 12 (96 bits) without IPsec");
  else if (secret->size() > 16)
    r.warn(t, Reader::join(path, "secret"),
           "is " + std::to_string(secret->size()) +
               " bytes; the Windows initiator accepts only 12 to 16");
  return ChapSecret{*user, *secret};
}

}  // namespace

void read_target(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "target";
  if (!t) {
    r.error(t, p, "required section is missing");
    return;
  }
  if (!r.map(t, p)) return;
  r.check_keys(t, p,
               {"iqn", "alias", "portals", "chap", "mutual_chap", "require_chap", "discovery_chap",
                "allowed_initiators", "max_connections", "login_timeout_ms", "nop_interval_ms",
                "nop_timeout_ms", "slow_command_ms"});
  auto& s = c.target;
  if (auto v = r.str(t, p, "iqn", true)) {
    if (!valid_iscsi_name(*v))
      r.error(t["iqn"], p + ".iqn", "'" + *v + "' is not an iSCSI name (iqn.YYYY-MM.domain:name)");
    s.iqn = *v;
  }
  if (auto v = r.str(t, p, "alias")) s.alias = *v;
  if (YAML::Node ps = t["portals"]) {
    if (!ps.IsSequence() || ps.size() == 0) {
      r.error(ps, p + ".portals", "must be a non-empty list of address:port");
    } else {
      for (size_t i = 0; i < ps.size(); ++i) {
        std::string key = p + ".portals[" + std::to_string(i) + "]";
        std::string v = ps[i].IsScalar() ? ps[i].Scalar() : "";
        size_t colon = v.rfind(':');
        Portal portal;
        uint32_t port = 0;
        bool ok = colon != std::string::npos && colon > 0;
        if (ok) {
          std::string_view ps_(v.data() + colon + 1, v.size() - colon - 1);
          auto [q, ec] = std::from_chars(ps_.data(), ps_.data() + ps_.size(), port);
          ok = ec == std::errc{} && q == ps_.data() + ps_.size() && port <= 65535;
          portal.address = v.substr(0, colon);
          if (portal.address.size() > 2 && portal.address.front() == '[')
            portal.address = portal.address.substr(1, portal.address.size() - 2);
          portal.port = uint16_t(port);
        }
        if (!ok)
          r.error(ps[i], key, "'" + v + "' is not address:port");
        else
          s.portals.push_back(portal);
      }
    }
  } else {
    s.portals.push_back(Portal{});
  }
  s.chap = read_chap(r, t["chap"], p + ".chap");
  s.mutual_chap = read_chap(r, t["mutual_chap"], p + ".mutual_chap");
  if (auto v = r.boolean(t, p, "require_chap")) s.require_chap = *v;
  if (auto v = r.boolean(t, p, "discovery_chap")) s.discovery_chap = *v;
  if (s.require_chap && !s.chap && !t["chap"])
    r.error(t["require_chap"], p + ".require_chap", "is true but no target.chap is configured");
  if (s.mutual_chap && !s.chap)
    r.error(t["mutual_chap"], p + ".mutual_chap", "needs target.chap as well");
  // RFC 7143 §9.2.1: a secret used to authenticate initiators MUST NOT also authenticate the
  // target (one captured exchange would then answer the other direction).
  if (s.mutual_chap && s.chap && s.mutual_chap->secret == s.chap->secret)
    r.error(t["mutual_chap"], p + ".mutual_chap.secret", "must differ from target.chap.secret");
  if (YAML::Node a = t["allowed_initiators"]) {
    if (!a.IsSequence()) {
      r.error(a, p + ".allowed_initiators", "must be a list of initiator names");
    } else {
      for (size_t i = 0; i < a.size(); ++i) {
        std::string v = a[i].IsScalar() ? a[i].Scalar() : "";
        if (!valid_iscsi_name(v))
          r.error(a[i], p + ".allowed_initiators[" + std::to_string(i) + "]",
                  "'" + v + "' is not an iSCSI name");
        s.allowed_initiators.push_back(v);
      }
    }
  }
  if (auto v = r.integer<uint32_t>(t, p, "max_connections", 1, 1000000)) s.max_connections = *v;
  if (auto v = r.integer<uint32_t>(t, p, "login_timeout_ms", 100, 600000)) s.login_timeout_ms = *v;
  if (auto v = r.integer<uint32_t>(t, p, "nop_interval_ms", 0, 3600000)) s.nop_interval_ms = *v;
  if (auto v = r.integer<uint32_t>(t, p, "nop_timeout_ms", 100, 3600000)) s.nop_timeout_ms = *v;
  if (auto v = r.integer<uint32_t>(t, p, "slow_command_ms", 100, 3600000)) s.slow_command_ms = *v;
}

void read_luns(Reader& r, const YAML::Node& t, Config& c) {
  const std::string p = "luns";
  if (!t) {
    r.error(t, p, "required section is missing (a list of LUNs)");
    return;
  }
  if (!t.IsSequence()) {
    r.error(t, p, "must be a list of LUNs");
    return;
  }
  std::set<uint32_t> ids;
  std::set<std::string> containers, paths, names;
  for (size_t i = 0; i < t.size(); ++i) {
    const YAML::Node n = t[i];
    std::string lp = p + "[" + std::to_string(i) + "]";
    if (!r.map(n, lp)) continue;
    r.check_keys(n, lp,
                 {"id", "name", "backend", "path", "container", "size", "block_size",
                  "physical_block_size", "chunk_size", "read_only", "thin", "write_cache",
                  "storage_policy", "compression", "serial"});
    Lun lun;
    lun.line = n.Mark().line + 1;
    lun.id = uint32_t(i);
    if (auto v = r.integer<uint32_t>(n, lp, "id", 0, 16383)) lun.id = *v;
    if (!ids.insert(lun.id).second)
      r.error(n["id"] ? n["id"] : n, lp + ".id", "duplicate LUN id " + std::to_string(lun.id));
    if (auto v = r.str(n, lp, "name")) lun.name = *v;
    if (lun.name.empty()) lun.name = "lun" + std::to_string(lun.id);
    // The name is a directory under state_dir: keep it a plain file name.
    if (!std::regex_match(lun.name, std::regex("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")))
      r.error(n["name"], lp + ".name",
              "'" + lun.name + "' must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . _ -)");
    if (!names.insert(lun.name).second)
      r.error(n["name"] ? n["name"] : n, lp + ".name", "duplicate LUN name " + lun.name);
    if (auto v = r.str(n, lp, "backend")) {
      if (*v == "swift")
        lun.backend = Backend::swift;
      else if (*v == "file")
        lun.backend = Backend::file;
      else
        r.error(n["backend"], lp + ".backend", "must be swift or file, got '" + *v + "'");
    }
    if (auto v = r.size(n, lp, "size", true)) lun.size = *v;
    if (auto v = r.integer<uint32_t>(n, lp, "block_size", 512, 4096)) {
      if (*v != 512 && *v != 4096)
        r.error(n["block_size"], lp + ".block_size", "must be 512 or 4096");
      lun.block_size = *v;
    }
    if (auto v = r.integer<uint32_t>(n, lp, "physical_block_size", 512, 65536)) {
      // READ CAPACITY (16) reports it as a power-of-two exponent over the logical block.
      if (*v < lun.block_size || (*v & (*v - 1)))
        r.error(n["physical_block_size"], lp + ".physical_block_size",
                "must be a power of two, at least block_size");
      lun.physical_block_size = *v;
    }
    if (lun.size && lun.size % lun.block_size)
      r.error(n["size"], lp + ".size", "must be a multiple of block_size");
    if (lun.size && lun.size < lun.block_size * 16ull)
      r.error(n["size"], lp + ".size", "is too small (at least 16 blocks)");
    if (auto v = r.size(n, lp, "chunk_size")) {
      if (*v < (1ull << 20) || *v > (64ull << 20) || (*v & (*v - 1)))
        r.error(n["chunk_size"], lp + ".chunk_size", "must be a power of two from 1MiB to 64MiB");
      lun.chunk_size = *v;
    }
    if (auto v = r.boolean(n, lp, "read_only")) lun.read_only = *v;
    if (auto v = r.boolean(n, lp, "thin")) lun.thin = *v;
    if (auto v = r.boolean(n, lp, "write_cache")) lun.write_cache = *v;
    if (auto v = r.str(n, lp, "storage_policy")) lun.storage_policy = *v;
    if (auto v = r.str(n, lp, "compression")) {
      if (*v != "none" && *v != "zstd")
        r.error(n["compression"], lp + ".compression", "must be none or zstd");
      lun.compression = *v;
    }
    if (auto v = r.str(n, lp, "serial")) {
      // SPC-4 7.8.16: PRODUCT SERIAL NUMBER is ASCII data (printable, 0x20-0x7E).
      bool printable = true;
      for (char ch : *v)
        printable &= ch >= 0x20 && ch <= 0x7e;
      if (v->size() > 32 || !printable)
        r.error(n["serial"], lp + ".serial", "must be at most 32 printable ASCII characters");
      lun.serial = *v;
    }
    if (lun.backend == Backend::file) {
      if (auto v = r.str(n, lp, "path", true)) lun.path = *v;
      if (!lun.path.empty() && !paths.insert(lun.path).second)
        r.error(n["path"], lp + ".path", "duplicate path " + lun.path);
    } else {
      lun.container = lun.name;
      if (auto v = r.str(n, lp, "container")) lun.container = *v;
      if (lun.container.empty() || lun.container.size() > 256 ||
          lun.container.find('/') != std::string::npos)
        r.error(n["container"] ? n["container"] : n, lp + ".container",
                "must be 1 to 256 characters without '/'");
      if (!containers.insert(lun.container).second)
        r.error(n["container"] ? n["container"] : n, lp + ".container",
                "duplicate container " + lun.container);
    }
    c.luns.push_back(lun);
  }
}

}  // namespace swiftness::config::detail
