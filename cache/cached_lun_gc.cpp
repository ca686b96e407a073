// The Swift index checkpoint, garbage collection of superseded objects (which the journal
// names), and of orphans (which nothing names: found by listing the container).
#include <algorithm>
#include <cstdio>
#include <set>

#include "cache/blocking.hpp"
#include "cache/cached_lun.hpp"
#include "core/crc32c.hpp"
#include "core/log.hpp"

namespace swiftness::cache {

using core::block_errc;
using core::object_errc;
using core::Result;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// ---- Swift index and garbage collection ----

asio::awaitable<Result<void>> CachedLun::save_index() {
  // One save at a time: two overlapping saves (the flusher's and a drain's) could write
  // index.pointer out of order and leave it naming the older index, without the newest chunks.
  const std::chrono::milliseconds pause(1);
  while (index_saving_.exchange(true))
    co_await sleep(pause);
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = false; }
  } release{index_saving_};
  std::vector<IndexEntry> entries;
  uint64_t seq = 0, prev = 0;
  {
    std::lock_guard lock(mu_);
    seq = ++index_seq_assigned_;
    prev = state_->index_seq;
    index_dirty_ = false;
    for (const auto& [id, c] : state_->chunks) {
      if (c.object.exists()) entries.push_back({id, c.object});
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.chunk < b.chunk; });
  const auto body = encode_index(uuid_, seq, lun_blocks_, entries);
  // The journal records behind these entries go to stable storage first: Swift's index never
  // names an object that a crash could make the local cache forget it uploaded.
  if (auto d = co_await make_durable(); !d) {
    std::lock_guard lock(mu_);
    index_dirty_ = true;
    co_return d.error();
  }
  co_await hooks_->run(kHookIndexBeforePut);
  char name[32];
  std::snprintf(name, sizeof name, "index/%016llx", (unsigned long long)seq);
  const core::ObjectKey key{lun_.container, name};
  core::PutOptions opts;
  opts.if_none_match = true;
  auto put = co_await store_->put(key, body, opts);
  if (put) co_await hooks_->run(kHookIndexBeforePointer);
  const core::ObjectKey pointer{lun_.container, "index.pointer"};
  const std::string text = std::to_string(seq);
  const core::PutOptions plain;
  if (put) {
    auto p =
        co_await store_->put(pointer, std::as_bytes(std::span(text.data(), text.size())), plain);
    if (!p) put = p.error();
  }
  if (!put) {
    std::lock_guard lock(mu_);
    index_dirty_ = true;
    co_return put.error();
  }
  co_return co_await run_blocking(pool_, [this, seq, prev]() -> Result<void> {
    std::lock_guard lock(mu_);
    last_index_save_ = Clock::now();
    if (seq <= state_->index_seq || failed_) return {};
    state_->index_seq = seq;
    Record rec;
    rec.type = RecordType::index_saved;
    rec.index_seq = seq;
    if (auto r = append_record_locked(rec); !r) return r;
    if (prev != 0) {
      char old[32];
      std::snprintf(old, sizeof old, "index/%016llx", (unsigned long long)prev);
      Record g;
      g.type = RecordType::garbage;
      g.name = old;
      g.needed_index_seq = seq;
      state_->add_garbage({g.name, seq});
      return append_record_locked(g);
    }
    return {};
  });
}

asio::awaitable<void> CachedLun::collect_garbage() {
  std::vector<core::ObjectKey> keys;
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (const Garbage& g : state_->garbage) {
      // Deleted only once an index without it is in Swift, and after a grace period for
      // readers of an older index (another gateway attaching, a lagging replica).
      if (g.needed_index_seq > state_->index_seq) continue;
      auto since = gc_since_.try_emplace(g.name, now).first->second;
      if (now - since < cfg_.gc_grace) continue;
      keys.push_back({lun_.container, g.name});
      if (keys.size() >= 1000) break;
    }
  }
  if (keys.empty()) co_return;
  // The records that stopped referring to these objects (clean, unmap, index saved) must be
  // on stable storage first, or a crash could replay a state that needs a deleted object.
  if (!co_await make_durable()) co_return;
  co_await hooks_->run(kHookGcBeforeDelete);
  auto r = co_await store_->bulk_delete(keys);
  if (!r) co_return;
  co_await hooks_->run(kHookGcAfterDelete);
  std::lock_guard lock(mu_);
  std::set<std::string> failed;
  for (const auto& [name, status] : r->errors)
    failed.insert(name);
  std::set<std::string> done;
  for (const auto& k : keys) {
    if (!failed.count(k.name) && !failed.count(k.container + "/" + k.name)) done.insert(k.name);
  }
  std::erase_if(state_->garbage, [&](const Garbage& g) { return done.count(g.name) > 0; });
  for (const auto& name : done)
    gc_since_.erase(name);
  counters_.gc_deleted += done.size();
}

// ---- orphans ----
//
// An orphan is an object in the container that no index refers to: an upload whose commit a
// crash lost, a superseded object whose garbage record was lost with the journal, objects a
// gateway with another writer epoch left behind. Only a listing finds them, and Swift listings
// are eventually consistent (swift-api.md): a listing may miss new objects (harmless: found by
// a later pass) or still show deleted ones (harmless: bulk delete says not found). What must
// never be deleted is anything an index may still need:
//  - objects the local state refers to (newer than any Swift index), and uploads between their
//    PUT and their commit (uploading_gens_);
//  - objects the current Swift index or the one before it refers to (a gateway attaching from
//    Swift, or a replica still serving the older pointer, reads those);
//  - superseded objects already in the garbage list (the journaled GC deletes them when the
//    index allows).
// And only what has been seen unreferenced for the grace period, by our own monotonic clock:
// Last-Modified in listings is the proxy's clock, and another writer (a gateway handing over,
// later with leases) may be between a PUT and its index save.

namespace {

struct ParsedName {
  bool chunk = false;  // else an index object
  uint32_t epoch = 0;
  uint64_t gen = 0;
  uint64_t seq = 0;
};

std::optional<ParsedName> parse_object_name(const std::string& name) {
  ParsedName p;
  unsigned long long a = 0, b = 0;
  unsigned e = 0;
  char back[64];
  if (name.rfind("chunk/", 0) == 0) {
    if (std::sscanf(name.c_str(), "chunk/%12llx/%8x-%16llx", &a, &e, &b) != 3) return std::nullopt;
    std::snprintf(back, sizeof back, "chunk/%012llx/%08x-%016llx", a, e, b);
    if (name != back) return std::nullopt;  // not a name we write: leave it alone
    p.chunk = true;
    p.epoch = e;
    p.gen = b;
    return p;
  }
  if (name.rfind("index/", 0) == 0) {
    if (std::sscanf(name.c_str(), "index/%16llx", &a) != 1) return std::nullopt;
    std::snprintf(back, sizeof back, "index/%016llx", a);
    if (name != back) return std::nullopt;
    p.seq = a;
    return p;
  }
  return std::nullopt;
}

std::string index_name(uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "index/%016llx", (unsigned long long)seq);
  return name;
}

}  // namespace

asio::awaitable<Result<std::set<std::string>>> CachedLun::index_names(uint64_t seq) {
  std::set<std::string> out;
  if (seq == 0) co_return out;
  const core::ObjectKey key{lun_.container, index_name(seq)};
  const core::GetOptions plain;
  auto got = co_await store_->get(key, plain);
  if (!got) {
    // Superseded and deleted already: nothing to protect. Anything else: try another time.
    if (got.error() == object_errc::not_found) co_return out;
    co_return block_errc::unavailable;
  }
  uint64_t found = 0;
  auto entries = decode_index(got->body, uuid_, found);
  if (!entries || found != seq) co_return block_errc::medium_error;
  for (const IndexEntry& e : *entries)
    out.insert(object_name(e.chunk, e.ref));
  co_return out;
}

asio::awaitable<Result<OrphanReport>> CachedLun::collect_orphans() {
  OrphanReport report;
  uint64_t current = 0;
  {
    std::lock_guard lock(mu_);
    current = state_->index_seq;
  }
  std::vector<core::ListEntry> listed;
  for (const char* prefix : {"index/", "chunk/"}) {
    core::ListOptions lo;
    lo.prefix = prefix;
    auto l = co_await store_->list(lun_.container, lo);
    if (!l) co_return block_errc::unavailable;
    listed.insert(listed.end(), l->begin(), l->end());
  }
  report.listed = listed.size();
  // The index before the current one: the newest below it that the listing shows or that
  // waits in the garbage list (a lagging listing may not show it yet).
  uint64_t previous = 0;
  auto consider = [&](const std::string& name) {
    auto p = parse_object_name(name);
    if (p && !p->chunk && p->seq < current) previous = std::max(previous, p->seq);
  };
  for (const auto& e : listed)
    consider(e.name);
  {
    std::lock_guard lock(mu_);
    for (const Garbage& g : state_->garbage)
      consider(g.name);
  }
  std::set<std::string> protect;
  for (uint64_t seq : {current, previous}) {
    auto names = co_await index_names(seq);
    if (!names) co_return names.error();  // cannot tell what it needs: delete nothing
    protect.insert(names->begin(), names->end());
  }

  std::vector<core::ObjectKey> doomed;
  {
    std::lock_guard lock(mu_);
    // Referenced now: the local state, uploads in flight, the garbage list.
    auto referenced = [&](const std::string& name, const ParsedName& p) {
      if (protect.count(name)) return true;
      if (!p.chunk) return p.seq >= previous || p.seq > state_->index_seq;
      if (p.epoch == lun_.writer_epoch && uploading_gens_.count(p.gen)) return true;
      return false;
    };
    std::set<std::string> live;
    for (const auto& [id, c] : state_->chunks) {
      if (c.object.exists()) live.insert(object_name(id, c.object));
    }
    for (const Garbage& g : state_->garbage)
      live.insert(g.name);
    const auto now = Clock::now();
    std::map<std::string, Clock::time_point> seen;
    for (const auto& e : listed) {
      auto p = parse_object_name(e.name);
      if (!p || live.count(e.name) || referenced(e.name, *p)) continue;
      ++report.candidates;
      auto it = orphan_seen_.find(e.name);
      const auto since = it == orphan_seen_.end() ? now : it->second;
      seen[e.name] = since;
      if (now - since >= cfg_.orphan_grace) doomed.push_back({lun_.container, e.name});
    }
    orphan_seen_ = std::move(seen);  // forget names that were deleted or became referenced
  }
  for (size_t i = 0; i < doomed.size() && !stopping_; i += 1000) {
    std::span<const core::ObjectKey> batch(doomed.data() + i,
                                           std::min<size_t>(1000, doomed.size() - i));
    auto r = co_await store_->bulk_delete(batch);
    if (!r) co_return block_errc::unavailable;
    std::lock_guard lock(mu_);
    std::set<std::string> failed;
    for (const auto& [name, status] : r->errors)
      failed.insert(name);
    for (const auto& k : batch) {
      if (failed.count(k.name) || failed.count(k.container + "/" + k.name)) continue;
      ++report.deleted;
      orphan_seen_.erase(k.name);
    }
  }
  {
    std::lock_guard lock(mu_);
    counters_.orphans_deleted += report.deleted;
  }
  if (report.deleted > 0) {
    core::logger("cache")->info("{}: deleted {} orphaned objects", lun_.container, report.deleted);
  }
  co_return report;
}

asio::awaitable<Result<OrphanReport>> CachedLun::collect_orphans_now() {
  co_return co_await collect_orphans();
}

}  // namespace swiftness::cache
