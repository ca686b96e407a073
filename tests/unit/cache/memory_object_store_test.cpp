#include "core/memory_object_store.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string_view>

#include "tests/unit/cache/test_util.hpp"

namespace swiftness::core {
namespace {

using Verb = MemoryObjectStore::Verb;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
std::string text(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

class MemoryObjectStoreTest : public ::testing::Test {
 protected:
  template <class T>
  T run(boost::asio::awaitable<T> aw) {
    return test::run(ctx_, std::move(aw));
  }
  boost::asio::io_context ctx_;
  MemoryObjectStore store_;
};

TEST(Md5Test, Rfc1321Vectors) {
  EXPECT_EQ(md5_hex(bytes("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex(bytes("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex(bytes("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_hex(bytes("12345678901234567890123456789012345678901234567890123456789012345678901"
                          "234567890")),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_F(MemoryObjectStoreTest, PutToMissingContainerIs404) {
  auto r = run(store_.put({"nope", "a"}, bytes("x")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::not_found);
}

TEST_F(MemoryObjectStoreTest, PutGetHeadRoundTripWithEtagAndMetadata) {
  ASSERT_TRUE(run(store_.create_container("c")));
  PutOptions o;
  o.metadata["crc"] = "1234";
  auto p = run(store_.put({"c", "obj"}, bytes("hello"), o));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->etag, "5d41402abc4b2a76b9719d911017c592");
  auto g = run(store_.get({"c", "obj"}));
  ASSERT_TRUE(g);
  EXPECT_EQ(text(g->body), "hello");
  EXPECT_EQ(g->info.metadata.at("crc"), "1234");
  auto h = run(store_.head({"c", "obj"}));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size, 5u);
  EXPECT_EQ(h->etag, p->etag);
}

TEST_F(MemoryObjectStoreTest, IfNoneMatchOnExistingNameIs412) {
  ASSERT_TRUE(run(store_.create_container("c")));
  PutOptions o;
  o.if_none_match = true;
  ASSERT_TRUE(run(store_.put({"c", "o"}, bytes("1"), o)));
  auto r = run(store_.put({"c", "o"}, bytes("2"), o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::precondition_failed);
  EXPECT_EQ(text(*store_.body({"c", "o"})), "1");
}

TEST_F(MemoryObjectStoreTest, RangesClampOr416) {
  ASSERT_TRUE(run(store_.create_container("c")));
  ASSERT_TRUE(run(store_.put({"c", "o"}, bytes("0123456789"))));
  GetOptions g;
  g.range = ByteRange{2, 3};
  EXPECT_EQ(text(run(store_.get({"c", "o"}, g))->body), "234");
  g.range = ByteRange{8, 100};
  EXPECT_EQ(text(run(store_.get({"c", "o"}, g))->body), "89");
  g.range = ByteRange{10, 1};
  auto r = run(store_.get({"c", "o"}, g));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), object_errc::range_not_satisfiable);
}

TEST_F(MemoryObjectStoreTest, MissingObjectsAre404) {
  ASSERT_TRUE(run(store_.create_container("c")));
  EXPECT_EQ(run(store_.get({"c", "x"})).error(), object_errc::not_found);
  EXPECT_EQ(run(store_.head({"c", "x"})).error(), object_errc::not_found);
  EXPECT_EQ(run(store_.remove({"c", "x"})).error(), object_errc::not_found);
  EXPECT_EQ(run(store_.copy({"c", "x"}, {"c", "y"})).error(), object_errc::not_found);
}

TEST_F(MemoryObjectStoreTest, ListingIsSortedAndHonoursPrefixMarkersLimit) {
  ASSERT_TRUE(run(store_.create_container("c")));
  for (auto n : {"b/2", "a/1", "b/1", "b/3", "c"})
    ASSERT_TRUE(run(store_.put({"c", n}, bytes(n))));
  auto names = [](const std::vector<ListEntry>& v) {
    std::string s;
    for (auto& e : v)
      s += e.name + ",";
    return s;
  };
  EXPECT_EQ(names(*run(store_.list("c"))), "a/1,b/1,b/2,b/3,c,");
  ListOptions o;
  o.prefix = "b/";
  EXPECT_EQ(names(*run(store_.list("c", o))), "b/1,b/2,b/3,");
  o.marker = "b/1";
  EXPECT_EQ(names(*run(store_.list("c", o))), "b/2,b/3,");
  o.end_marker = "b/3";
  EXPECT_EQ(names(*run(store_.list("c", o))), "b/2,");
  ListOptions lim;
  lim.limit = 2;
  EXPECT_EQ(names(*run(store_.list("c", lim))), "a/1,b/1,");
  auto e = run(store_.list("c", lim));
  EXPECT_EQ((*e)[0].bytes, 3u);
  EXPECT_EQ((*e)[0].hash, md5_hex(bytes("a/1")));
}

TEST_F(MemoryObjectStoreTest, BulkDeleteCountsDeletedAndNotFound) {
  ASSERT_TRUE(run(store_.create_container("c")));
  ASSERT_TRUE(run(store_.put({"c", "a"}, bytes("1"))));
  ASSERT_TRUE(run(store_.put({"c", "b"}, bytes("1"))));
  std::vector<ObjectKey> keys = {{"c", "a"}, {"c", "b"}, {"c", "zz"}, {"nope", "a"}};
  auto r = run(store_.bulk_delete(keys));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->deleted, 2u);
  EXPECT_EQ(r->not_found, 2u);
  EXPECT_TRUE(store_.names("c").empty());
}

TEST_F(MemoryObjectStoreTest, DeleteContainerRefusesNonEmpty) {
  ASSERT_TRUE(run(store_.create_container("c")));
  ASSERT_TRUE(run(store_.put({"c", "a"}, bytes("1"))));
  EXPECT_EQ(run(store_.delete_container("c")).error(), object_errc::conflict);
  ASSERT_TRUE(run(store_.remove({"c", "a"})));
  EXPECT_TRUE(run(store_.delete_container("c")));
  EXPECT_EQ(run(store_.delete_container("c")).error(), object_errc::not_found);
}

TEST_F(MemoryObjectStoreTest, StoragePolicyCannotChange) {
  ASSERT_TRUE(run(store_.create_container("c", "gold")));
  EXPECT_TRUE(run(store_.create_container("c", "gold")));
  EXPECT_TRUE(run(store_.create_container("c")));
  EXPECT_EQ(run(store_.create_container("c", "silver")).error(), object_errc::conflict);
}

TEST_F(MemoryObjectStoreTest, ExpiredObjectsVanish) {
  ASSERT_TRUE(run(store_.create_container("c")));
  PutOptions o;
  o.delete_after = 0;
  ASSERT_TRUE(run(store_.put({"c", "a"}, bytes("1"), o)));
  EXPECT_EQ(run(store_.get({"c", "a"})).error(), object_errc::not_found);
  EXPECT_TRUE(run(store_.list("c"))->empty());
}

TEST_F(MemoryObjectStoreTest, FailNextFailsExactlyNCalls) {
  ASSERT_TRUE(run(store_.create_container("c")));
  store_.fail_next(Verb::put, 2, object_errc::service_unavailable);
  EXPECT_EQ(run(store_.put({"c", "a"}, bytes("1"))).error(), object_errc::service_unavailable);
  EXPECT_EQ(run(store_.put({"c", "a"}, bytes("1"))).error(), object_errc::service_unavailable);
  EXPECT_FALSE(store_.contains({"c", "a"}));
  EXPECT_TRUE(run(store_.put({"c", "a"}, bytes("1"))));
  EXPECT_EQ(store_.calls(Verb::put), 3u);
}

TEST_F(MemoryObjectStoreTest, DownFailsEverythingUntilBack) {
  ASSERT_TRUE(run(store_.create_container("c")));
  store_.set_down(true);
  EXPECT_EQ(run(store_.put({"c", "a"}, bytes("1"))).error(), object_errc::connection_failed);
  EXPECT_EQ(run(store_.list("c")).error(), object_errc::connection_failed);
  store_.set_down(false);
  EXPECT_TRUE(run(store_.put({"c", "a"}, bytes("1"))));
}

TEST_F(MemoryObjectStoreTest, StaleReadsServePreviousVersionUnlessNewest) {
  ASSERT_TRUE(run(store_.create_container("c")));
  ASSERT_TRUE(run(store_.put({"c", "p"}, bytes("old"))));
  ASSERT_TRUE(run(store_.put({"c", "p"}, bytes("new"))));
  store_.set_stale_reads(true);
  EXPECT_EQ(text(run(store_.get({"c", "p"}))->body), "old");
  EXPECT_EQ(run(store_.head({"c", "p"}))->etag, md5_hex(bytes("old")));
  GetOptions newest;
  newest.newest = true;
  EXPECT_EQ(text(run(store_.get({"c", "p"}, newest))->body), "new");
  ASSERT_TRUE(run(store_.remove({"c", "p"})));
  EXPECT_EQ(text(run(store_.get({"c", "p"}))->body), "new");  // deleted, a replica lags
  EXPECT_EQ(run(store_.get({"c", "p"}, newest)).error(), object_errc::not_found);
}

TEST_F(MemoryObjectStoreTest, CorruptKeepsEtag) {
  ASSERT_TRUE(run(store_.create_container("c")));
  auto p = run(store_.put({"c", "o"}, bytes("abcdef")));
  ASSERT_TRUE(store_.corrupt({"c", "o"}, 2));
  auto g = run(store_.get({"c", "o"}));
  EXPECT_NE(text(g->body), "abcdef");
  EXPECT_EQ(g->info.etag, p->etag);
  EXPECT_NE(md5_hex(g->body), g->info.etag);
}

TEST_F(MemoryObjectStoreTest, HoldBlocksUntilRelease) {
  ASSERT_TRUE(run(store_.create_container("c")));
  store_.hold(Verb::put);
  // The coroutine keeps references to its arguments, defaulted ones included: they must
  // outlive it.
  const ObjectKey key{"c", "a"};
  const PutOptions opts;
  auto fut =
      boost::asio::co_spawn(ctx_, store_.put(key, bytes("1"), opts), boost::asio::use_future);
  for (int i = 0; i < 1000 && store_.held(Verb::put) == 0; ++i) {
    ctx_.restart();
    ctx_.run_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(store_.held(Verb::put), 1u);
  ctx_.restart();
  ctx_.run_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(store_.contains({"c", "a"}));
  store_.release(Verb::put);
  ctx_.restart();
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    ctx_.restart();
    ctx_.run_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(fut.get());
  EXPECT_TRUE(store_.contains({"c", "a"}));
  EXPECT_EQ(store_.held(Verb::put), 0u);
}

}  // namespace
}  // namespace swiftness::core
