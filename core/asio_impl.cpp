// Boost.Asio compiled once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION is set
// project-wide), so no other translation unit pays for its implementation headers.
#include <boost/asio/impl/src.hpp>
