#include "swift/url.hpp"

#include <gtest/gtest.h>

namespace swiftness::swift {
namespace {

TEST(Url, ParsesSchemeHostPortAndPath) {
  auto u = parse_service_url("http://127.0.0.1:8080/v1/AUTH_test/");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->endpoint.tls);
  EXPECT_EQ(u->endpoint.host, "127.0.0.1");
  EXPECT_EQ(u->endpoint.port, 8080);
  EXPECT_EQ(u->path, "/v1/AUTH_test");
  EXPECT_EQ(u->endpoint.host_header(), "127.0.0.1:8080");

  auto s = parse_service_url("https://swift.example.com/v1/AUTH_x");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->endpoint.tls);
  EXPECT_EQ(s->endpoint.port, 443);

  auto v6 = parse_service_url("http://[::1]:5000/v3");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->endpoint.host, "::1");
  EXPECT_EQ(v6->endpoint.host_header(), "[::1]:5000");
}

TEST(Url, RejectsOtherSchemesAndGarbage) {
  EXPECT_FALSE(parse_service_url("ftp://host/x"));
  EXPECT_FALSE(parse_service_url("not a url"));
  EXPECT_FALSE(parse_service_url("http://host:0/"));
  EXPECT_FALSE(parse_service_url("/relative/path"));
}

TEST(Url, EscapesNamesButKeepsSlashesInObjectNames) {
  ServiceUrl base{{false, "h", 1}, "/v1/AUTH_test"};
  EXPECT_EQ(object_path(base, "c", "lun0/0001"), "/v1/AUTH_test/c/lun0/0001");
  EXPECT_EQ(object_path(base, "my c", "a b?c#d%e"), "/v1/AUTH_test/my%20c/a%20b%3Fc%23d%25e");
  EXPECT_EQ(container_path(base, "a/b"), "/v1/AUTH_test/a%2Fb");
  EXPECT_EQ(object_path(base, "c", "ñ"), "/v1/AUTH_test/c/%C3%B1");
  EXPECT_EQ(escaped_key("c", "x y/z"), "c/x%20y/z");
}

TEST(Url, QueryStringSkipsEmptyValuesAndEncodes) {
  EXPECT_EQ(query_string({{"format", "json"}, {"prefix", ""}, {"marker", "a b&c=d/e"}}),
            "?format=json&marker=a%20b%26c%3Dd%2Fe");
  EXPECT_EQ(query_string({{"prefix", ""}}), "");
}

}  // namespace
}  // namespace swiftness::swift
