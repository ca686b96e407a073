#include "swift/swift_store.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "swift/md5.hpp"
#include "swift/responses.hpp"
#include "swift/session.hpp"
#include "swift/url.hpp"

namespace swiftness::swift {

namespace asio = boost::asio;
using core::object_errc;
using core::Result;

namespace {

constexpr std::string_view kMetaPrefix = "x-object-meta-";

uint64_t header_u64(const HttpResponse& r, std::string_view name) {
  auto v = r.header(name);
  uint64_t n = 0;
  std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}

core::ObjectInfo info_from(const HttpResponse& r) {
  core::ObjectInfo info;
  info.size = header_u64(r, "content-length");
  info.etag = normalize_etag(r.header("etag"));
  info.last_modified = std::string(r.header("last-modified"));
  for (const auto& [k, v] : r.headers) {
    if (k.starts_with(kMetaPrefix)) info.metadata[k.substr(kMetaPrefix.size())] = v;
  }
  return info;
}

// Manifests (SLO, DLO) have an ETag that is not the MD5 of the bytes served.
bool is_manifest(const HttpResponse& r) {
  return r.has_header("x-static-large-object") || r.has_header("x-object-manifest");
}

}  // namespace

struct SwiftStore::Impl {
  Impl(asio::any_io_executor ex, SwiftConfig cfg)
      : strand(asio::make_strand(ex)), session(strand, std::move(cfg)) {}

  asio::strand<asio::any_io_executor> strand;
  Session session;
  std::optional<Constraints> constraints;

  asio::awaitable<Result<void>> create_container(const std::string& container,
                                                 const std::string& policy) {
    Call c{.method = "PUT",
           .target = [&](const ServiceUrl& s) { return container_path(s, container); }};
    if (!policy.empty()) c.headers.emplace_back("X-Storage-Policy", policy);
    c.send_body = true;
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  asio::awaitable<Result<void>> delete_container(const std::string& container) {
    Call c{.method = "DELETE",
           .target = [&](const ServiceUrl& s) { return container_path(s, container); }};
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  asio::awaitable<Result<ContainerInfo>> head_container(const std::string& container) {
    Call c{.method = "HEAD",
           .target = [&](const ServiceUrl& s) { return container_path(s, container); }};
    c.expect_body = false;
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    co_return ContainerInfo{header_u64(*r, "x-container-object-count"),
                            header_u64(*r, "x-container-bytes-used"),
                            std::string(r->header("x-storage-policy"))};
  }

  asio::awaitable<Result<core::ObjectInfo>> put(const core::ObjectKey& key,
                                                std::span<const std::byte> body,
                                                const core::PutOptions& opts,
                                                const std::string& etag) {
    Call c{.method = "PUT",
           .target = [&](const ServiceUrl& s) { return object_path(s, key.container, key.name); }};
    c.body = body;
    c.send_body = true;
    // Swift verifies the body against this ETag and answers 422 on a mismatch.
    c.headers.emplace_back("ETag", etag);
    c.headers.emplace_back("Content-Type", "application/octet-stream");
    if (opts.if_none_match) {
      c.headers.emplace_back("If-None-Match", "*");
      // A replay after a lost reply would meet our own object and answer 412.
      c.idempotent = false;
    }
    if (opts.delete_at) c.headers.emplace_back("X-Delete-At", std::to_string(*opts.delete_at));
    if (opts.delete_after) {
      c.headers.emplace_back("X-Delete-After", std::to_string(*opts.delete_after));
    }
    for (const auto& [k, v] : opts.metadata)
      c.headers.emplace_back("X-Object-Meta-" + k, v);
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    auto returned = normalize_etag(r->header("etag"));
    if (!returned.empty() && returned != etag) co_return object_errc::checksum_mismatch;
    core::ObjectInfo info;
    info.size = body.size();
    info.etag = etag;
    info.metadata = opts.metadata;
    info.last_modified = std::string(r->header("last-modified"));
    co_return info;
  }

  asio::awaitable<Result<core::Object>> get(const core::ObjectKey& key,
                                            const core::GetOptions& opts) {
    Call c{.method = "GET",
           .target = [&](const ServiceUrl& s) { return object_path(s, key.container, key.name); }};
    if (opts.newest) c.headers.emplace_back("X-Newest", "true");
    Md5 digest;
    if (opts.range) {
      if (opts.range->length == 0) co_return object_errc::range_not_satisfiable;
      c.headers.emplace_back("Range",
                             "bytes=" + std::to_string(opts.range->offset) + "-" +
                                 std::to_string(opts.range->offset + opts.range->length - 1));
      // A 200 would mean the server ignored the range; a 206 whose Content-Range is not the one
      // asked for would be someone else's bytes.
      c.check = [&](const HttpResponse& r) -> std::error_code {
        if (r.status != 206) return object_errc::bad_response;
        auto cr = parse_content_range(r.header("content-range"));
        if (!cr || cr->first != opts.range->offset || r.body.size() != cr->last - cr->first + 1) {
          return object_errc::bad_response;
        }
        return {};
      };
    } else {
      // The ETag of a whole, non-manifest object is the MD5 of its bytes: verify while reading,
      // unless the caller checks every byte against a checksum of its own.
      if (opts.verify_etag) c.body_digest = &digest;
      c.check = [&](const HttpResponse& r) -> std::error_code {
        if (is_manifest(r)) return {};
        if (r.body.size() != header_u64(r, "content-length")) return object_errc::bad_response;
        if (!opts.verify_etag) return {};
        return normalize_etag(r.header("etag")) == digest.final_hex()
                   ? std::error_code{}
                   : std::error_code(object_errc::checksum_mismatch);
      };
    }
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    core::Object obj;
    obj.info = info_from(*r);
    if (opts.range) {
      obj.info.size = parse_content_range(r->header("content-range"))->total;
    }
    obj.body = std::move(r->body);
    co_return obj;
  }

  asio::awaitable<Result<core::ObjectInfo>> head(const core::ObjectKey& key) {
    Call c{.method = "HEAD",
           .target = [&](const ServiceUrl& s) { return object_path(s, key.container, key.name); }};
    c.expect_body = false;
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    co_return info_from(*r);
  }

  asio::awaitable<Result<void>> remove(const core::ObjectKey& key) {
    Call c{.method = "DELETE",
           .target = [&](const ServiceUrl& s) { return object_path(s, key.container, key.name); }};
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  asio::awaitable<Result<void>> copy(const core::ObjectKey& from, const core::ObjectKey& to) {
    // Server-side copy: PUT the destination with X-Copy-From (the copy middleware).
    Call c{.method = "PUT",
           .target = [&](const ServiceUrl& s) { return object_path(s, to.container, to.name); }};
    c.headers.emplace_back("X-Copy-From", "/" + escaped_key(from.container, from.name));
    c.send_body = true;
    auto r = co_await session.execute(c);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  asio::awaitable<Result<std::vector<core::ListEntry>>> list(const std::string& container,
                                                             const core::ListOptions& opts) {
    uint32_t page_max = constraints ? constraints->container_listing_limit : 10000;
    if (const auto want = session.config().listing_page_size; want != 0) {
      page_max = std::min(page_max, want);
    }
    std::vector<core::ListEntry> out;
    std::string marker = opts.marker;
    for (;;) {
      uint32_t want = page_max;
      if (opts.limit != 0) want = std::min<uint32_t>(page_max, opts.limit - out.size());
      const std::string limit = std::to_string(want);
      Call c{.method = "GET", .target = [&](const ServiceUrl& s) {
               return container_path(s, container) + query_string({{"format", "json"},
                                                                   {"prefix", opts.prefix},
                                                                   {"marker", marker},
                                                                   {"end_marker", opts.end_marker},
                                                                   {"limit", limit}});
             }};
      c.headers.emplace_back("Accept", "application/json");
      auto r = co_await session.execute(c);
      if (!r) co_return r.error();
      if (r->status == 204) break;  // empty container
      auto page = parse_listing(r->body_text());
      if (!page) co_return page.error();
      const std::size_t n = page->size();
      if (n > 0) marker = page->back().name;
      std::move(page->begin(), page->end(), std::back_inserter(out));
      // A short page is the last one (constraints.CONTAINER_LISTING_LIMIT caps each page).
      if (n < want || (opts.limit != 0 && out.size() >= opts.limit)) break;
    }
    co_return out;
  }

  asio::awaitable<Result<core::BulkDeleteResult>> bulk_delete(
      std::span<const core::ObjectKey> keys) {
    const std::size_t batch = constraints ? constraints->max_deletes_per_request : 10000;
    core::BulkDeleteResult total;
    for (std::size_t i = 0; i < keys.size(); i += batch) {
      std::string lines;
      for (std::size_t j = i; j < std::min(keys.size(), i + batch); ++j) {
        lines += escaped_key(keys[j].container, keys[j].name);
        lines += '\n';
      }
      // doc/source/api/bulk-delete.rst: POST <account>?bulk-delete, text/plain list.
      Call c{.method = "POST",
             .target = [](const ServiceUrl& s) { return s.path + "?bulk-delete"; }};
      c.headers = {{"Content-Type", "text/plain"}, {"Accept", "application/json"}};
      c.body = std::as_bytes(std::span(lines));
      c.send_body = true;
      auto r = co_await session.execute(c);
      if (!r) co_return r.error();
      auto reply = parse_bulk_delete(r->body_text());
      if (!reply) co_return reply.error();
      // 200 with "Response Status: 400" and no per-item errors: the request itself failed.
      if ((reply->response_status < 200 || reply->response_status >= 300) &&
          reply->result.errors.empty()) {
        co_return std::error_code(reply->response_status, core::object_category());
      }
      total.deleted += reply->result.deleted;
      total.not_found += reply->result.not_found;
      for (auto& e : reply->result.errors)
        total.errors.push_back(std::move(e));
    }
    co_return total;
  }

  asio::awaitable<Result<Constraints>> info() {
    auto r = co_await session.get_info();
    if (!r) co_return r.error();
    auto c = parse_info(r->body_text());
    if (c) constraints = *c;
    co_return c;
  }
};

SwiftStore::SwiftStore(asio::any_io_executor ex, SwiftConfig config)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(config))) {}

SwiftStore::~SwiftStore() = default;

SwiftStats SwiftStore::stats() const {
  return impl_->session.stats();
}

// Each operation runs as its own coroutine on the store's strand, so the session, pool and token
// need no locks; the caller resumes on its own executor.
asio::awaitable<Result<void>> SwiftStore::create_container(const std::string& container,
                                                           const std::string& storage_policy) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->create_container(container, storage_policy),
                                    asio::use_awaitable);
}

asio::awaitable<Result<void>> SwiftStore::delete_container(const std::string& container) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->delete_container(container), asio::use_awaitable);
}

asio::awaitable<Result<ContainerInfo>> SwiftStore::head_container(const std::string& container) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->head_container(container), asio::use_awaitable);
}

asio::awaitable<Result<core::ObjectInfo>> SwiftStore::put(const core::ObjectKey& key,
                                                          std::span<const std::byte> body,
                                                          const core::PutOptions& opts) {
  auto m = impl_;
  // Hashed here, on the caller's thread, so parallel uploads do not serialise on the strand.
  const std::string etag = opts.etag.empty() ? Md5::hex_of(body) : normalize_etag(opts.etag);
  co_return co_await asio::co_spawn(m->strand, m->put(key, body, opts, etag), asio::use_awaitable);
}

asio::awaitable<Result<core::Object>> SwiftStore::get(const core::ObjectKey& key,
                                                      const core::GetOptions& opts) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->get(key, opts), asio::use_awaitable);
}

asio::awaitable<Result<core::ObjectInfo>> SwiftStore::head(const core::ObjectKey& key) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->head(key), asio::use_awaitable);
}

asio::awaitable<Result<void>> SwiftStore::remove(const core::ObjectKey& key) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->remove(key), asio::use_awaitable);
}

asio::awaitable<Result<void>> SwiftStore::copy(const core::ObjectKey& from,
                                               const core::ObjectKey& to) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->copy(from, to), asio::use_awaitable);
}

asio::awaitable<Result<std::vector<core::ListEntry>>> SwiftStore::list(
    const std::string& container, const core::ListOptions& opts) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->list(container, opts), asio::use_awaitable);
}

asio::awaitable<Result<core::BulkDeleteResult>> SwiftStore::bulk_delete(
    std::span<const core::ObjectKey> keys) {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->bulk_delete(keys), asio::use_awaitable);
}

asio::awaitable<Result<void>> SwiftStore::authenticate() {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->session.authenticate(), asio::use_awaitable);
}

asio::awaitable<Result<Constraints>> SwiftStore::info() {
  auto m = impl_;
  co_return co_await asio::co_spawn(m->strand, m->info(), asio::use_awaitable);
}

}  // namespace swiftness::swift
