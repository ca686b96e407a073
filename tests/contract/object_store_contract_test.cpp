// The core::ObjectStore contract: what the cache may rely on, checked against every
// implementation. Semantics follow Swift (../shared/notes/swift-api.md): 404 for missing objects
// and containers, 412 for a create-only PUT over an existing name, 206/416 for ranges, MD5 ETags,
// 409 for deleting a non-empty container, sorted listings with prefix/marker/end_marker/limit,
// bulk delete counting per item.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <memory>

#include "core/object_store.hpp"
#include "swift/md5.hpp"
#include "swift/swift_store.hpp"
#include "tests/integration/swift/swift_aio_env.hpp"
#include "tests/integration/swift/test_support.hpp"

#if __has_include("core/memory_object_store.hpp")
#include "core/memory_object_store.hpp"
#define SWIFTNESS_HAVE_MEMORY_STORE 1
#endif

namespace swiftness {
namespace {

using core::object_errc;
using core::ObjectKey;
using testing::bytes_of;
using testing::random_bytes;
using testing::run_sync;

core::ListOptions lo(std::string prefix, std::string marker = {}, std::string end_marker = {},
                     uint32_t limit = 0) {
  core::ListOptions o;
  o.prefix = std::move(prefix);
  o.marker = std::move(marker);
  o.end_marker = std::move(end_marker);
  o.limit = limit;
  return o;
}

// Each implementation: make() returns nullptr (and sets `why`) when it cannot run here.
struct SwiftStoreImpl {
  static std::unique_ptr<core::ObjectStore> make(boost::asio::io_context& ctx, std::string& why) {
    auto env = testing::swift_aio_env();
    if (!env) {
      why = "no Swift: run under ctest (fixture swift_aio) or set SWIFTNESS_SWIFT_AIO_ENV";
      return nullptr;
    }
    return std::make_unique<swift::SwiftStore>(ctx.get_executor(), testing::swift_config(*env));
  }
};

#ifdef SWIFTNESS_HAVE_MEMORY_STORE
struct MemoryStoreImpl {
  static std::unique_ptr<core::ObjectStore> make(boost::asio::io_context&, std::string&) {
    return std::make_unique<core::MemoryObjectStore>();
  }
};
using Implementations = ::testing::Types<MemoryStoreImpl, SwiftStoreImpl>;
#else
using Implementations = ::testing::Types<SwiftStoreImpl>;
#endif

class ImplNames {
 public:
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, SwiftStoreImpl>) return "Swift";
    return "Memory";
  }
};

template <class Impl>
class ObjectStoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    store_ = Impl::make(ctx_, why);
    if (!store_) GTEST_SKIP() << why;
    container_ = testing::unique_name("contract");
    auto r = run(store_->create_container(container_));
    ASSERT_TRUE(r) << r.error().message();
  }

  void TearDown() override {
    if (!store_) return;
    // Best effort: leave the shared Swift tidy.
    auto all = run(store_->list(container_));
    if (all && !all->empty()) {
      std::vector<ObjectKey> keys;
      for (const auto& e : *all)
        keys.push_back({container_, e.name});
      (void)run(store_->bulk_delete(keys));
    }
    (void)run(store_->delete_container(container_));
  }

  template <class T>
  T run(boost::asio::awaitable<T> a) {
    return run_sync(ctx_, std::move(a));
  }

  ObjectKey key(const std::string& name) const { return {container_, name}; }

  core::Result<core::ObjectInfo> put(const std::string& name, const std::vector<std::byte>& body,
                                     const core::PutOptions& opts = {}) {
    return run(store_->put(key(name), body, opts));
  }

  std::vector<std::string> names(const core::ListOptions& opts) {
    auto r = run(store_->list(container_, opts));
    EXPECT_TRUE(r) << r.error().message();
    std::vector<std::string> out;
    if (r) {
      for (const auto& e : *r)
        out.push_back(e.name);
    }
    return out;
  }

  boost::asio::io_context ctx_;
  std::unique_ptr<core::ObjectStore> store_;
  std::string container_;
};

TYPED_TEST_SUITE(ObjectStoreContract, Implementations, ImplNames);

TYPED_TEST(ObjectStoreContract, PutThenGetReturnsTheSameBytesAndMd5Etag) {
  const auto body = random_bytes(1 << 20, 1);
  auto p = this->put("chunk-0", body);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->etag, swift::Md5::hex_of(body));
  EXPECT_EQ(p->size, body.size());

  auto g = this->run(this->store_->get(this->key("chunk-0")));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_TRUE(g->body == body);
  EXPECT_EQ(g->info.etag, swift::Md5::hex_of(body));
  EXPECT_EQ(g->info.size, body.size());
}

TYPED_TEST(ObjectStoreContract, EmptyObjectRoundTrips) {
  ASSERT_TRUE(this->put("empty", {}));
  auto g = this->run(this->store_->get(this->key("empty")));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_TRUE(g->body.empty());
  EXPECT_EQ(g->info.etag, "d41d8cd98f00b204e9800998ecf8427e");  // MD5 of nothing
}

TYPED_TEST(ObjectStoreContract, HeadReportsSizeEtagAndMetadata) {
  const auto body = random_bytes(12345, 2);
  core::PutOptions opts;
  opts.metadata = {{"lun-uuid", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}, {"generation", "7"}};
  ASSERT_TRUE(this->put("meta", body, opts));
  auto h = this->run(this->store_->head(this->key("meta")));
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->size, body.size());
  EXPECT_EQ(h->etag, swift::Md5::hex_of(body));
  EXPECT_EQ(h->metadata, opts.metadata);
}

TYPED_TEST(ObjectStoreContract, MissingObjectIsNotFoundForGetHeadAndRemove) {
  auto g = this->run(this->store_->get(this->key("nope")));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), object_errc::not_found);
  EXPECT_EQ(core::http_status(g.error()), 404);
  auto h = this->run(this->store_->head(this->key("nope")));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error(), object_errc::not_found);
  auto d = this->run(this->store_->remove(this->key("nope")));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), object_errc::not_found);
}

TYPED_TEST(ObjectStoreContract, PutIntoMissingContainerIsNotFound) {
  auto r =
      this->run(this->store_->put({testing::unique_name("nocontainer"), "x"}, bytes_of("abc")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::not_found);
}

TYPED_TEST(ObjectStoreContract, RangeGetReturnsThoseBytesAndTheWholeSize) {
  const auto body = random_bytes(10000, 3);
  ASSERT_TRUE(this->put("ranged", body));
  core::GetOptions opts;
  opts.range = core::ByteRange{100, 100};
  auto g = this->run(this->store_->get(this->key("ranged"), opts));
  ASSERT_TRUE(g) << g.error().message();
  ASSERT_EQ(g->body.size(), 100u);
  EXPECT_TRUE(std::equal(g->body.begin(), g->body.end(), body.begin() + 100));
  EXPECT_EQ(g->info.size, body.size());

  opts.range = core::ByteRange{9990, 10};  // the last bytes
  g = this->run(this->store_->get(this->key("ranged"), opts));
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_TRUE(std::equal(g->body.begin(), g->body.end(), body.begin() + 9990));
}

TYPED_TEST(ObjectStoreContract, RangeBeyondTheEndIsNotSatisfiable) {
  ASSERT_TRUE(this->put("short", random_bytes(100, 4)));
  core::GetOptions opts;
  opts.range = core::ByteRange{200, 10};
  auto g = this->run(this->store_->get(this->key("short"), opts));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), object_errc::range_not_satisfiable);
  EXPECT_EQ(core::http_status(g.error()), 416);
}

TYPED_TEST(ObjectStoreContract, CreateOnlyPutFailsOverAnExistingObject) {
  core::PutOptions create_only;
  create_only.if_none_match = true;
  ASSERT_TRUE(this->put("lease", bytes_of("first"), create_only));
  auto again = this->put("lease", bytes_of("second"), create_only);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), object_errc::precondition_failed);
  auto g = this->run(this->store_->get(this->key("lease")));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->body == bytes_of("first"));
}

TYPED_TEST(ObjectStoreContract, OverwriteReplacesTheContent) {
  ASSERT_TRUE(this->put("o", bytes_of("version one")));
  ASSERT_TRUE(this->put("o", bytes_of("version two, longer")));
  auto g = this->run(this->store_->get(this->key("o")));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->body == bytes_of("version two, longer"));
}

TYPED_TEST(ObjectStoreContract, RemoveMakesTheObjectNotFound) {
  ASSERT_TRUE(this->put("gone", bytes_of("x")));
  ASSERT_TRUE(this->run(this->store_->remove(this->key("gone"))));
  auto g = this->run(this->store_->get(this->key("gone")));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), object_errc::not_found);
}

TYPED_TEST(ObjectStoreContract, CopyDuplicatesBytesAndEtag) {
  const auto body = random_bytes(70000, 5);
  ASSERT_TRUE(this->put("src", body));
  auto c = this->run(this->store_->copy(this->key("src"), this->key("dst")));
  ASSERT_TRUE(c) << c.error().message();
  auto g = this->run(this->store_->get(this->key("dst")));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->body == body);
  EXPECT_EQ(g->info.etag, swift::Md5::hex_of(body));
  auto missing = this->run(this->store_->copy(this->key("nosrc"), this->key("dst2")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), object_errc::not_found);
}

TYPED_TEST(ObjectStoreContract, ListHonoursPrefixMarkerEndMarkerAndLimit) {
  for (auto n : {"lun0/0003", "lun0/0001", "lun0/0002", "lun0/0005", "lun0/0004", "lun1/0001"}) {
    ASSERT_TRUE(this->put(n, bytes_of(n)));
  }
  using V = std::vector<std::string>;
  EXPECT_EQ(this->names({}),
            (V{"lun0/0001", "lun0/0002", "lun0/0003", "lun0/0004", "lun0/0005", "lun1/0001"}));
  EXPECT_EQ(this->names(lo("lun0/")),
            (V{"lun0/0001", "lun0/0002", "lun0/0003", "lun0/0004", "lun0/0005"}));
  EXPECT_EQ(this->names(lo("lun0/", "lun0/0002")), (V{"lun0/0003", "lun0/0004", "lun0/0005"}));
  EXPECT_EQ(this->names(lo("lun0/", "lun0/0001", "lun0/0004")), (V{"lun0/0002", "lun0/0003"}));
  EXPECT_EQ(this->names(lo("lun0/", "", "", 2)), (V{"lun0/0001", "lun0/0002"}));

  auto entries = this->run(this->store_->list(this->container_, lo("lun1/")));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].bytes, 9u);
  EXPECT_EQ((*entries)[0].hash, swift::Md5::hex_of(bytes_of("lun1/0001")));
}

TYPED_TEST(ObjectStoreContract, NamesNeedingEscapesRoundTrip) {
  const std::vector<std::string> odd = {"with space", "q?uery#frag",  "100%",
                                        "a+b=c&d",    "deep/er/path", "ñandú-ü"};
  for (const auto& n : odd) {
    auto p = this->put(n, bytes_of(n));
    ASSERT_TRUE(p) << n << ": " << p.error().message();
    auto g = this->run(this->store_->get(this->key(n)));
    ASSERT_TRUE(g) << n << ": " << g.error().message();
    EXPECT_TRUE(g->body == bytes_of(n)) << n;
  }
  auto listed = this->names({});
  auto sorted = odd;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(listed, sorted);
}

TYPED_TEST(ObjectStoreContract, BulkDeleteCountsDeletedAndNotFound) {
  std::vector<ObjectKey> keys;
  for (int i = 0; i < 5; ++i) {
    auto n = "bulk/" + std::to_string(i);
    ASSERT_TRUE(this->put(n, bytes_of(n)));
    keys.push_back(this->key(n));
  }
  keys.push_back(this->key("bulk/missing"));
  auto r = this->run(this->store_->bulk_delete(keys));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->deleted, 5u);
  EXPECT_EQ(r->not_found, 1u);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_TRUE(this->names(lo("bulk/")).empty());
}

TYPED_TEST(ObjectStoreContract, ContainerMustBeEmptyToBeDeleted) {
  ASSERT_TRUE(this->put("keep", bytes_of("x")));
  auto d = this->run(this->store_->delete_container(this->container_));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), object_errc::conflict);
  ASSERT_TRUE(this->run(this->store_->remove(this->key("keep"))));
  EXPECT_TRUE(this->run(this->store_->delete_container(this->container_)));
  auto l = this->run(this->store_->list(this->container_));
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error(), object_errc::not_found);
}

}  // namespace
}  // namespace swiftness
