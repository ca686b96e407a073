#include "core/result.hpp"

#include <gtest/gtest.h>

using namespace swiftness::core;

TEST(Result, ObjectErrorCarriesHttpStatus) {
  std::error_code ec = object_errc::service_unavailable;
  EXPECT_EQ(http_status(ec), 503);
  EXPECT_EQ(ec.message(), "HTTP 503");
  EXPECT_EQ(http_status(object_errc::timeout), 0);
  EXPECT_EQ(http_status(block_errc::busy), 0);
}

TEST(Result, BlockErrorHasMessage) {
  std::error_code ec = block_errc::medium_error;
  EXPECT_EQ(ec.category().name(), std::string("block"));
  EXPECT_EQ(ec.message(), "medium error");
}

TEST(Result, VoidResultCarriesError) {
  Result<void> ok;
  EXPECT_TRUE(ok.has_value());
  Result<void> bad = make_error_code(block_errc::no_space);
  EXPECT_EQ(bad.error(), block_errc::no_space);
}
