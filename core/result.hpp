// Errors as values. Every layer returns Result<T>; the error_code's category says which layer
// produced it, and its value says what it becomes (a SCSI sense, an HTTP status, a login status).
#pragma once

#include <boost/system/result.hpp>
#include <system_error>

namespace swiftness::core {

template <class T>
using Result = boost::system::result<T, std::error_code>;

// Storage-side failures seen by the SCSI layer (design.md §7). The SCSI layer maps each one to
// sense data or a transient status in exactly one function.
enum class block_errc {
  medium_error = 1,     // data cannot be read back intact (checksum mismatch, EIO)
  no_space,             // cache full of dirty data, or backing file cannot grow
  unavailable,          // backend (Swift) unreachable and the data is not cached
  busy,                 // transient overload: retry later (BUSY / TASK SET FULL)
  out_of_range,         // LBA range beyond the device
  write_protected,      // read-only LUN
  io_error,             // any other local I/O failure
  aborted,              // operation cancelled (task abort, shutdown)
};

const std::error_category& block_category() noexcept;
inline std::error_code make_error_code(block_errc e) noexcept {
  return {static_cast<int>(e), block_category()};
}

// Object-store failures. Values below 1000 are the HTTP status the server answered with, so
// `object_errc{503}` round-trips; values from 1000 are failures that never produced a status.
enum class object_errc {
  bad_request = 400,
  unauthorized = 401,
  forbidden = 403,
  not_found = 404,
  request_timeout = 408,
  conflict = 409,
  precondition_failed = 412,
  range_not_satisfiable = 416,
  unprocessable = 422,  // ETag mismatch on PUT
  too_many_requests = 429,
  rate_limited = 498,
  internal_error = 500,
  bad_gateway = 502,
  service_unavailable = 503,
  gateway_timeout = 504,
  insufficient_storage = 507,
  too_many_backend_requests = 529,
  connection_failed = 1000,  // connect, reset, EOF mid-body
  timeout = 1001,            // request deadline expired
  checksum_mismatch = 1002,  // body did not match ETag / stored checksum
  bad_response = 1003,       // unparseable reply (listing JSON, missing headers)
  auth_failed = 1004,        // could not obtain a token
  tls_error = 1005,          // handshake or certificate verification failed
};

const std::error_category& object_category() noexcept;
inline std::error_code make_error_code(object_errc e) noexcept {
  return {static_cast<int>(e), object_category()};
}

// The HTTP status carried by an object-store error, or 0 when the failure had none.
inline int http_status(std::error_code ec) noexcept {
  return (ec.category() == object_category() && ec.value() < 1000) ? ec.value() : 0;
}

}  // namespace swiftness::core

template <>
struct std::is_error_code_enum<swiftness::core::block_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<swiftness::core::object_errc> : std::true_type {};
