// Beast's and Asio-SSL's implementations, compiled once for the whole program
// (BOOST_BEAST_SEPARATE_COMPILATION and BOOST_ASIO_SEPARATE_COMPILATION are set project-wide; the
// plain Asio part is in core/asio_impl.cpp).
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
