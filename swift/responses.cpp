#include "swift/responses.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>

namespace swiftness::swift {

using core::object_errc;
namespace json = boost::json;

namespace {

std::optional<json::value> parse(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

// Swift encodes counts as JSON numbers; accept integers however Boost.JSON stored them.
std::optional<uint64_t> as_u64(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  if (v->is_double() && v->as_double() >= 0) return static_cast<uint64_t>(v->as_double());
  return std::nullopt;
}

std::string as_string(const json::value* v) {
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->as_string());
}

template <class T>
void set_u(const json::object& o, std::string_view key, T& out) {
  if (auto n = as_u64(o.if_contains(key))) out = static_cast<T>(*n);
}

}  // namespace

core::Result<std::vector<core::ListEntry>> parse_listing(std::string_view text) {
  auto v = parse(text);
  if (!v || !v->is_array()) return object_errc::bad_response;
  std::vector<core::ListEntry> out;
  out.reserve(v->as_array().size());
  for (const auto& e : v->as_array()) {
    if (!e.is_object()) return object_errc::bad_response;
    const auto& o = e.as_object();
    if (o.contains("subdir")) continue;
    const auto* name = o.if_contains("name");
    auto bytes = as_u64(o.if_contains("bytes"));
    if (name == nullptr || !name->is_string() || !bytes) return object_errc::bad_response;
    out.push_back({std::string(name->as_string()), *bytes, as_string(o.if_contains("hash"))});
  }
  return out;
}

int leading_status(std::string_view s) {
  int code = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), code);
  return ec == std::errc() && code >= 100 && code < 600 ? code : 0;
}

core::Result<BulkDeleteReply> parse_bulk_delete(std::string_view text) {
  // The middleware streams whitespace while it works, then the JSON document.
  auto v = parse(text);
  if (!v || !v->is_object()) return object_errc::bad_response;
  const auto& o = v->as_object();
  BulkDeleteReply r;
  r.response_status = leading_status(as_string(o.if_contains("Response Status")));
  if (r.response_status == 0) return object_errc::bad_response;
  r.response_body = as_string(o.if_contains("Response Body"));
  r.result.deleted = as_u64(o.if_contains("Number Deleted")).value_or(0);
  r.result.not_found = as_u64(o.if_contains("Number Not Found")).value_or(0);
  if (const auto* errs = o.if_contains("Errors"); errs != nullptr && errs->is_array()) {
    for (const auto& e : errs->as_array()) {
      if (!e.is_array() || e.as_array().size() < 2) return object_errc::bad_response;
      const auto& pair = e.as_array();
      r.result.errors.emplace_back(as_string(&pair[0]), leading_status(as_string(&pair[1])));
    }
  }
  return r;
}

core::Result<Constraints> parse_info(std::string_view text) {
  auto v = parse(text);
  if (!v || !v->is_object()) return object_errc::bad_response;
  const auto* sw = v->as_object().if_contains("swift");
  if (sw == nullptr || !sw->is_object()) return object_errc::bad_response;
  const auto& s = sw->as_object();
  Constraints c;
  set_u(s, "max_file_size", c.max_file_size);
  set_u(s, "max_object_name_length", c.max_object_name_length);
  set_u(s, "max_container_name_length", c.max_container_name_length);
  set_u(s, "container_listing_limit", c.container_listing_limit);
  set_u(s, "max_meta_count", c.max_meta_count);
  set_u(s, "max_meta_name_length", c.max_meta_name_length);
  set_u(s, "max_meta_value_length", c.max_meta_value_length);
  set_u(s, "max_meta_overall_size", c.max_meta_overall_size);
  set_u(s, "max_header_size", c.max_header_size);
  c.version = as_string(s.if_contains("version"));
  if (const auto* b = v->as_object().if_contains("bulk_delete"); b != nullptr && b->is_object()) {
    c.bulk_delete = true;
    set_u(b->as_object(), "max_deletes_per_request", c.max_deletes_per_request);
  }
  return c;
}

std::string normalize_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  std::string out(etag);
  for (auto& ch : out)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::optional<ContentRange> parse_content_range(std::string_view v) {
  constexpr std::string_view kUnit = "bytes ";
  if (!v.starts_with(kUnit)) return std::nullopt;
  v.remove_prefix(kUnit.size());
  ContentRange r;
  const char* p = v.data();
  const char* end = v.data() + v.size();
  auto num = [&](uint64_t& out, char sep) {
    auto res = std::from_chars(p, end, out);
    if (res.ec != std::errc()) return false;
    p = res.ptr;
    if (sep != 0) {
      if (p == end || *p != sep) return false;
      ++p;
    }
    return true;
  };
  if (!num(r.first, '-') || !num(r.last, '/') || !num(r.total, 0) || p != end) return std::nullopt;
  if (r.last < r.first || r.last >= r.total) return std::nullopt;
  return r;
}

std::string keystone_auth_body(const KeystoneCredentials& c) {
  json::value body = {
      {"auth",
       {{"identity",
         {{"methods", json::array{"password"}},
          {"password",
           {{"user",
             {{"name", c.user},
              {"domain", {{"name", c.user_domain}}},
              {"password", c.password}}}}}}},
        {"scope",
         {{"project", {{"name", c.project}, {"domain", {{"name", c.project_domain}}}}}}}}}};
  return json::serialize(body);
}

core::Result<std::string> keystone_endpoint(std::string_view text, std::string_view type,
                                            std::string_view interface, std::string_view region) {
  auto v = parse(text);
  if (!v || !v->is_object()) return object_errc::bad_response;
  const auto* token = v->as_object().if_contains("token");
  if (token == nullptr || !token->is_object()) return object_errc::bad_response;
  const auto* catalog = token->as_object().if_contains("catalog");
  if (catalog == nullptr || !catalog->is_array()) return object_errc::bad_response;
  for (const auto& svc : catalog->as_array()) {
    if (!svc.is_object() || as_string(svc.as_object().if_contains("type")) != type) continue;
    const auto* eps = svc.as_object().if_contains("endpoints");
    if (eps == nullptr || !eps->is_array()) return object_errc::bad_response;
    for (const auto& ep : eps->as_array()) {
      if (!ep.is_object()) return object_errc::bad_response;
      const auto& e = ep.as_object();
      if (as_string(e.if_contains("interface")) != interface) continue;
      if (!region.empty() && as_string(e.if_contains("region_id")) != region &&
          as_string(e.if_contains("region")) != region) {
        continue;
      }
      auto url = as_string(e.if_contains("url"));
      if (url.empty()) return object_errc::bad_response;
      return url;
    }
  }
  return object_errc::not_found;
}

}  // namespace swiftness::swift
