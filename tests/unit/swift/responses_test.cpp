#include "swift/responses.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace swiftness::swift {
namespace {

using core::object_errc;

TEST(Listing, ParsesEntriesAndSkipsSubdirs) {
  auto r = parse_listing(R"([
    {"name": "lun0/0001", "hash": "900150983cd24fb0d6963f7d28e17f72", "bytes": 3,
     "content_type": "application/octet-stream", "last_modified": "2026-11-22T17:42:34.512340"},
    {"subdir": "lun0/snap/"},
    {"name": "lun0/0002", "hash": "d41d8cd98f00b204e9800998ecf8427e", "bytes": 4194304}
  ])");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "lun0/0001");
  EXPECT_EQ((*r)[0].bytes, 3u);
  EXPECT_EQ((*r)[0].hash, "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ((*r)[1].bytes, 4194304u);
  auto empty = parse_listing("[]");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Listing, MalformedIsBadResponse) {
  EXPECT_EQ(parse_listing("{}").error(), object_errc::bad_response);
  EXPECT_EQ(parse_listing("[{\"name\": 1, \"bytes\": 2}]").error(), object_errc::bad_response);
  EXPECT_EQ(parse_listing("[{\"name\": \"x\"}]").error(), object_errc::bad_response);
  EXPECT_EQ(parse_listing("[").error(), object_errc::bad_response);
}

TEST(BulkDelete, ParsesCountsAndPerItemErrors) {
  // middleware/bulk.py streams whitespace before the document.
  auto r = parse_bulk_delete(R"(

    {"Number Not Found": 1, "Response Status": "400 Bad Request", "Errors": [["/c/busy", "409 Conflict"], ["/c/x", "503 Service Unavailable"]], "Number Deleted": 2, "Response Body": ""})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->response_status, 400);
  EXPECT_EQ(r->result.deleted, 2u);
  EXPECT_EQ(r->result.not_found, 1u);
  ASSERT_EQ(r->result.errors.size(), 2u);
  EXPECT_EQ(r->result.errors[0].first, "/c/busy");
  EXPECT_EQ(r->result.errors[0].second, 409);
  EXPECT_EQ(r->result.errors[1].second, 503);
}

TEST(BulkDelete, AllGoodAndMalformed) {
  auto ok = parse_bulk_delete(
      R"({"Number Not Found": 0, "Response Status": "200 OK", "Errors": [], "Number Deleted": 7, "Response Body": ""})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->response_status, 200);
  EXPECT_EQ(ok->result.deleted, 7u);
  EXPECT_FALSE(parse_bulk_delete("<html>").has_value());
  EXPECT_FALSE(parse_bulk_delete(R"({"Number Deleted": 1})").has_value());  // no status
}

TEST(Info, ReadsConstraintsAndBulkDelete) {
  auto c = parse_info(R"({"swift": {"version": "2.30.1", "max_file_size": 5368709122,
    "max_object_name_length": 1024, "container_listing_limit": 10000, "max_meta_count": 90,
    "max_meta_overall_size": 4096, "max_header_size": 8192},
    "bulk_delete": {"max_deletes_per_request": 10000, "max_failed_deletes": 1000}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->version, "2.30.1");
  EXPECT_EQ(c->max_file_size, 5368709122u);
  EXPECT_EQ(c->container_listing_limit, 10000u);
  EXPECT_TRUE(c->bulk_delete);
  EXPECT_EQ(c->max_deletes_per_request, 10000u);
  auto no_bulk = parse_info(R"({"swift": {"container_listing_limit": 500}})");
  ASSERT_TRUE(no_bulk);
  EXPECT_FALSE(no_bulk->bulk_delete);
  EXPECT_EQ(no_bulk->container_listing_limit, 500u);
  EXPECT_FALSE(parse_info(R"({"tempurl": {}})").has_value());
}

TEST(Headers, EtagAndContentRange) {
  EXPECT_EQ(normalize_etag("\"D41D8CD98F00B204E9800998ECF8427E\""),
            "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(normalize_etag("abc"), "abc");
  auto cr = parse_content_range("bytes 100-199/10000");
  ASSERT_TRUE(cr);
  EXPECT_EQ(cr->first, 100u);
  EXPECT_EQ(cr->last, 199u);
  EXPECT_EQ(cr->total, 10000u);
  EXPECT_FALSE(parse_content_range("bytes */10000"));
  EXPECT_FALSE(parse_content_range("bytes 5-4/10"));
  EXPECT_FALSE(parse_content_range("bytes 0-10/10"));
  EXPECT_FALSE(parse_content_range("items 0-1/2"));
  EXPECT_EQ(leading_status("409 Conflict"), 409);
  EXPECT_EQ(leading_status("OK"), 0);
}

TEST(Keystone, AuthBodyIsPasswordMethodWithProjectScope) {
  const auto body = keystone_auth_body({"swiftness", "s3cret", "Default", "lun-project", "Prod"});
  const auto v = boost::json::parse(body);
  const auto& auth = v.at("auth");
  EXPECT_EQ(auth.at("identity").at("methods").at(0).as_string(), "password");
  const auto& user = auth.at("identity").at("password").at("user");
  EXPECT_EQ(user.at("name").as_string(), "swiftness");
  EXPECT_EQ(user.at("password").as_string(), "s3cret");
  EXPECT_EQ(user.at("domain").at("name").as_string(), "Default");
  EXPECT_EQ(auth.at("scope").at("project").at("name").as_string(), "lun-project");
  EXPECT_EQ(auth.at("scope").at("project").at("domain").at("name").as_string(), "Prod");
}

// The shape of POST /v3/auth/tokens (keystone api-ref authenticate-v3): token.catalog[] with
// endpoints per interface and region.
constexpr const char* kTokenBody = R"({"token": {
  "methods": ["password"], "expires_at": "2026-11-23T18:00:00.000000Z",
  "project": {"name": "lun-project", "id": "p1", "domain": {"id": "default", "name": "Default"}},
  "catalog": [
    {"type": "identity", "name": "keystone", "id": "k", "endpoints": [
      {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
       "url": "http://127.0.0.1:5000/v3/", "id": "e0"}]},
    {"type": "object-store", "name": "swift", "id": "s", "endpoints": [
      {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne",
       "url": "http://10.0.0.1:8080/v1/AUTH_p1", "id": "e1"},
      {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
       "url": "https://swift.one.example/v1/AUTH_p1", "id": "e2"},
      {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo",
       "url": "https://swift.two.example/v1/AUTH_p1", "id": "e3"}]}]}})";

TEST(Keystone, PicksEndpointByTypeInterfaceAndRegion) {
  EXPECT_EQ(keystone_endpoint(kTokenBody, "object-store", "public", "").value(),
            "https://swift.one.example/v1/AUTH_p1");
  EXPECT_EQ(keystone_endpoint(kTokenBody, "object-store", "public", "RegionTwo").value(),
            "https://swift.two.example/v1/AUTH_p1");
  EXPECT_EQ(keystone_endpoint(kTokenBody, "object-store", "internal", "RegionOne").value(),
            "http://10.0.0.1:8080/v1/AUTH_p1");
  EXPECT_EQ(keystone_endpoint(kTokenBody, "object-store", "admin", "").error(),
            object_errc::not_found);
  EXPECT_EQ(keystone_endpoint(kTokenBody, "object-store", "public", "RegionThree").error(),
            object_errc::not_found);
  EXPECT_EQ(keystone_endpoint(kTokenBody, "volumev3", "public", "").error(),
            object_errc::not_found);
}

TEST(Keystone, MalformedCatalogIsBadResponse) {
  EXPECT_EQ(keystone_endpoint("{}", "object-store", "public", "").error(),
            object_errc::bad_response);
  EXPECT_EQ(
      keystone_endpoint(R"({"token": {"catalog": {}}})", "object-store", "public", "").error(),
      object_errc::bad_response);
  EXPECT_EQ(
      keystone_endpoint(
          R"({"token": {"catalog": [{"type": "object-store", "endpoints": [{"interface": "public"}]}]}})",
          "object-store", "public", "")
          .error(),
      object_errc::bad_response);
}

}  // namespace
}  // namespace swiftness::swift
