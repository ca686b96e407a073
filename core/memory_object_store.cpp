#include "core/memory_object_store.hpp"

#include <algorithm>
#include <bit>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <cstring>

#include <openssl/evp.h>

namespace swiftness::core {

namespace {

size_t index(MemoryObjectStore::Verb v) {
  return static_cast<size_t>(v);
}

bool expired(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t && *t <= std::chrono::system_clock::now();
}

std::error_code err(object_errc e) {
  return make_error_code(e);
}

}  // namespace

std::string md5_hex(std::span<const std::byte> data) {
  // OpenSSL's MD5 rather than a hand-written one: the same digest Swift computes, maintained
  // by Debian.
  std::array<unsigned char, 16> d{};
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

boost::asio::awaitable<Result<void>> MemoryObjectStore::enter(Verb verb) {
  {
    std::lock_guard lock(mu_);
    ++calls_[index(verb)];
    if (down_) co_return err(down_error_);
    if (fail_count_[index(verb)] > 0) {
      --fail_count_[index(verb)];
      co_return err(fail_error_[index(verb)]);
    }
    if (!held_flag_[index(verb)]) co_return Result<void>{};
    ++held_count_[index(verb)];
  }
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
    std::lock_guard lock(mu_);
    if (!held_flag_[index(verb)]) {
      --held_count_[index(verb)];
      if (down_) co_return err(down_error_);
      co_return Result<void>{};
    }
  }
}

const MemoryObjectStore::Version* MemoryObjectStore::live(const Container& c,
                                                          const std::string& name,
                                                          bool allow_stale) const {
  auto it = c.objects.find(name);
  if (it == c.objects.end()) return nullptr;
  const Entry& e = it->second;
  if (allow_stale && stale_ && e.previous && !expired(e.previous->expires)) return &*e.previous;
  if (e.current && !expired(e.current->expires)) return &*e.current;
  return nullptr;
}

boost::asio::awaitable<Result<void>> MemoryObjectStore::create_container(
    const std::string& container, const std::string& storage_policy) {
  if (auto r = co_await enter(Verb::create_container); !r) co_return r;
  std::lock_guard lock(mu_);
  auto it = containers_.find(container);
  if (it == containers_.end()) {
    containers_[container].policy = storage_policy;
    co_return Result<void>{};
  }
  // Swift: a container's storage policy cannot change (409 Conflict); same policy is 202.
  if (!storage_policy.empty() && storage_policy != it->second.policy) {
    co_return err(object_errc::conflict);
  }
  co_return Result<void>{};
}

boost::asio::awaitable<Result<void>> MemoryObjectStore::delete_container(
    const std::string& container) {
  if (auto r = co_await enter(Verb::delete_container); !r) co_return r;
  std::lock_guard lock(mu_);
  auto it = containers_.find(container);
  if (it == containers_.end()) co_return err(object_errc::not_found);
  for (const auto& [name, e] : it->second.objects) {
    if (e.current && !expired(e.current->expires)) co_return err(object_errc::conflict);
  }
  containers_.erase(it);
  co_return Result<void>{};
}

boost::asio::awaitable<Result<ObjectInfo>> MemoryObjectStore::put(const ObjectKey& key,
                                                                  std::span<const std::byte> body,
                                                                  const PutOptions& opts) {
  if (auto r = co_await enter(Verb::put); !r) co_return r.error();
  std::string etag = md5_hex(body);
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) co_return err(object_errc::not_found);
  // Swift checks If-None-Match: * against the primaries it contacts; here all of them.
  if (opts.if_none_match && live(cit->second, key.name, false)) {
    co_return err(object_errc::precondition_failed);
  }
  Version v;
  v.body.assign(body.begin(), body.end());
  v.info.size = body.size();
  v.info.etag = etag;
  v.info.metadata = opts.metadata;
  v.info.last_modified = std::to_string(++timestamp_);
  // X-Delete-After wins over X-Delete-At when both are given.
  if (opts.delete_after) {
    v.expires = std::chrono::system_clock::now() + std::chrono::seconds(*opts.delete_after);
  } else if (opts.delete_at) {
    v.expires = std::chrono::system_clock::time_point(std::chrono::seconds(*opts.delete_at));
  }
  Entry& e = cit->second.objects[key.name];
  if (e.current) e.previous = std::move(e.current);
  e.current = std::move(v);
  co_return e.current->info;
}

boost::asio::awaitable<Result<Object>> MemoryObjectStore::get(const ObjectKey& key,
                                                              const GetOptions& opts) {
  if (auto r = co_await enter(Verb::get); !r) co_return r.error();
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) co_return err(object_errc::not_found);
  const Version* v = live(cit->second, key.name, !opts.newest);
  if (!v) co_return err(object_errc::not_found);
  Object out;
  out.info = v->info;
  if (!opts.range) {
    out.body = v->body;
    co_return out;
  }
  // RFC 7233 as Swift applies it: a first byte at or past the end is 416; a last byte past
  // the end is clamped. A zero length means "to the end" (bytes=offset-).
  const uint64_t size = v->body.size();
  const ByteRange r = *opts.range;
  if (r.offset >= size) co_return err(object_errc::range_not_satisfiable);
  uint64_t end = r.length == 0 ? size : std::min(size, r.offset + r.length);
  out.body.assign(v->body.begin() + int64_t(r.offset), v->body.begin() + int64_t(end));
  co_return out;
}

boost::asio::awaitable<Result<ObjectInfo>> MemoryObjectStore::head(const ObjectKey& key) {
  if (auto r = co_await enter(Verb::head); !r) co_return r.error();
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) co_return err(object_errc::not_found);
  const Version* v = live(cit->second, key.name, true);
  if (!v) co_return err(object_errc::not_found);
  co_return v->info;
}

boost::asio::awaitable<Result<void>> MemoryObjectStore::remove(const ObjectKey& key) {
  if (auto r = co_await enter(Verb::remove); !r) co_return r;
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) co_return err(object_errc::not_found);
  if (!live(cit->second, key.name, false)) co_return err(object_errc::not_found);
  Entry& e = cit->second.objects[key.name];
  e.previous = std::move(e.current);
  e.current.reset();
  co_return Result<void>{};
}

boost::asio::awaitable<Result<void>> MemoryObjectStore::copy(const ObjectKey& from,
                                                             const ObjectKey& to) {
  if (auto r = co_await enter(Verb::copy); !r) co_return r;
  std::lock_guard lock(mu_);
  auto fit = containers_.find(from.container);
  auto tit = containers_.find(to.container);
  if (fit == containers_.end() || tit == containers_.end()) co_return err(object_errc::not_found);
  const Version* v = live(fit->second, from.name, false);
  if (!v) co_return err(object_errc::not_found);
  Version copy = *v;
  copy.expires.reset();  // X-Delete-At is not carried over by a server-side copy
  copy.info.last_modified = std::to_string(++timestamp_);
  Entry& e = tit->second.objects[to.name];
  if (e.current) e.previous = std::move(e.current);
  e.current = std::move(copy);
  co_return Result<void>{};
}

boost::asio::awaitable<Result<std::vector<ListEntry>>> MemoryObjectStore::list(
    const std::string& container, const ListOptions& opts) {
  if (auto r = co_await enter(Verb::list); !r) co_return r.error();
  std::lock_guard lock(mu_);
  auto cit = containers_.find(container);
  if (cit == containers_.end()) co_return err(object_errc::not_found);
  std::vector<ListEntry> out;
  // Swift: names > marker, names < end_marker, starting with prefix, in byte order.
  auto it = opts.marker.empty() ? cit->second.objects.begin()
                                : cit->second.objects.upper_bound(opts.marker);
  if (!opts.prefix.empty() && (opts.marker.empty() || opts.marker < opts.prefix)) {
    it = cit->second.objects.lower_bound(opts.prefix);
  }
  for (; it != cit->second.objects.end(); ++it) {
    const std::string& name = it->first;
    if (!opts.end_marker.empty() && name >= opts.end_marker) break;
    if (!opts.prefix.empty() && name.compare(0, opts.prefix.size(), opts.prefix) != 0) break;
    const Entry& e = it->second;
    if (!e.current || expired(e.current->expires)) continue;
    out.push_back({name, e.current->info.size, e.current->info.etag});
    if (opts.limit != 0 && out.size() >= opts.limit) break;
  }
  co_return out;
}

boost::asio::awaitable<Result<BulkDeleteResult>> MemoryObjectStore::bulk_delete(
    std::span<const ObjectKey> keys) {
  if (auto r = co_await enter(Verb::bulk_delete); !r) co_return r.error();
  std::lock_guard lock(mu_);
  BulkDeleteResult out;
  for (const ObjectKey& k : keys) {
    auto cit = containers_.find(k.container);
    if (cit == containers_.end() || !live(cit->second, k.name, false)) {
      ++out.not_found;
      continue;
    }
    Entry& e = cit->second.objects[k.name];
    e.previous = std::move(e.current);
    e.current.reset();
    ++out.deleted;
  }
  co_return out;
}

void MemoryObjectStore::fail_next(Verb verb, unsigned n, object_errc error) {
  std::lock_guard lock(mu_);
  fail_count_[index(verb)] = n;
  fail_error_[index(verb)] = error;
}

void MemoryObjectStore::set_down(bool down, object_errc error) {
  std::lock_guard lock(mu_);
  down_ = down;
  down_error_ = error;
}

void MemoryObjectStore::set_stale_reads(bool stale) {
  std::lock_guard lock(mu_);
  stale_ = stale;
}

void MemoryObjectStore::hold(Verb verb) {
  std::lock_guard lock(mu_);
  held_flag_[index(verb)] = true;
}

void MemoryObjectStore::release(Verb verb) {
  std::lock_guard lock(mu_);
  held_flag_[index(verb)] = false;
}

unsigned MemoryObjectStore::held(Verb verb) const {
  std::lock_guard lock(mu_);
  return held_count_[index(verb)];
}

uint64_t MemoryObjectStore::calls(Verb verb) const {
  std::lock_guard lock(mu_);
  return calls_[index(verb)];
}

bool MemoryObjectStore::contains(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  return cit != containers_.end() && live(cit->second, key.name, false) != nullptr;
}

std::optional<std::vector<std::byte>> MemoryObjectStore::body(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) return std::nullopt;
  const Version* v = live(cit->second, key.name, false);
  if (!v) return std::nullopt;
  return v->body;
}

std::optional<ObjectInfo> MemoryObjectStore::info(const ObjectKey& key) const {
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) return std::nullopt;
  const Version* v = live(cit->second, key.name, false);
  if (!v) return std::nullopt;
  return v->info;
}

std::vector<std::string> MemoryObjectStore::names(const std::string& container) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  auto cit = containers_.find(container);
  if (cit == containers_.end()) return out;
  for (const auto& [name, e] : cit->second.objects) {
    if (e.current && !expired(e.current->expires)) out.push_back(name);
  }
  return out;
}

bool MemoryObjectStore::corrupt(const ObjectKey& key, uint64_t offset) {
  std::lock_guard lock(mu_);
  auto cit = containers_.find(key.container);
  if (cit == containers_.end()) return false;
  auto it = cit->second.objects.find(key.name);
  if (it == cit->second.objects.end() || !it->second.current) return false;
  auto& b = it->second.current->body;
  if (offset >= b.size()) return false;
  b[offset] ^= std::byte{0x5a};
  return true;
}

}  // namespace swiftness::core
