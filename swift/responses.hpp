// Parsing Swift's and Keystone's response bodies and headers (Boost.JSON). Pure, unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/object_store.hpp"
#include "core/result.hpp"
#include "swift/types.hpp"

namespace swiftness::swift {

// Container listing with ?format=json: [{"name","hash","bytes",...}, {"subdir": ...}].
// "subdir" pseudo-entries (delimiter listings) are skipped.
core::Result<std::vector<core::ListEntry>> parse_listing(std::string_view json);

// Bulk delete with Accept: application/json (middleware/bulk.py). HTTP 200 does not mean every
// item went: the outcome is in "Response Status" and the per-item "Errors" ([name, "409 ..."]).
struct BulkDeleteReply {
  int response_status = 0;  // from "Response Status": "200 OK" -> 200
  std::string response_body;
  core::BulkDeleteResult result;
};
core::Result<BulkDeleteReply> parse_bulk_delete(std::string_view json);

core::Result<Constraints> parse_info(std::string_view json);

// ETag header to bare lower-case hex: strips the quotes Swift adds for some objects.
std::string normalize_etag(std::string_view etag);

// "bytes <first>-<last>/<total>" (RFC 9110 14.4).
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t total = 0;
};
std::optional<ContentRange> parse_content_range(std::string_view value);

// Leading status code of "409 Conflict"; 0 if none.
int leading_status(std::string_view s);

// Keystone v3 password authentication, project scope (keystone api-ref authenticate-v3).
struct KeystoneCredentials {
  std::string user;
  std::string password;
  std::string user_domain = "Default";
  std::string project;
  std::string project_domain = "Default";
};
std::string keystone_auth_body(const KeystoneCredentials& c);

// The endpoint URL from a POST /v3/auth/tokens body: service `type` ("object-store"), endpoint
// `interface` ("public", "internal", "admin") and, if non-empty, `region` (matches region_id or
// region). not_found if the catalog has no such endpoint, bad_response if it is malformed.
core::Result<std::string> keystone_endpoint(std::string_view json, std::string_view type,
                                            std::string_view interface, std::string_view region);

}  // namespace swiftness::swift
