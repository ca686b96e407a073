#include "admin/metered_device.hpp"

namespace swiftness::admin {

using Clock = std::chrono::steady_clock;

boost::asio::awaitable<core::Result<void>> MeteredDevice::read(core::Lba lba,
                                                               std::span<std::byte> buf) {
  const auto t0 = Clock::now();
  auto r = co_await inner_->read(lba, buf);
  m_->read_latency.observe(Clock::now() - t0);
  m_->reads.add();
  if (r)
    m_->read_bytes.add(buf.size());
  else
    m_->read_errors.add();
  co_return r;
}

boost::asio::awaitable<core::Result<void>> MeteredDevice::write(core::Lba lba,
                                                                std::span<const std::byte> buf,
                                                                core::WriteFlags flags) {
  const auto t0 = Clock::now();
  auto r = co_await inner_->write(lba, buf, flags);
  m_->write_latency.observe(Clock::now() - t0);
  m_->writes.add();
  if (r)
    m_->write_bytes.add(buf.size());
  else
    m_->write_errors.add();
  co_return r;
}

boost::asio::awaitable<core::Result<void>> MeteredDevice::flush(core::LbaRange range) {
  m_->flushes.add();
  co_return co_await inner_->flush(range);
}

boost::asio::awaitable<core::Result<void>> MeteredDevice::unmap(
    std::span<const core::LbaRange> ranges) {
  m_->unmaps.add();
  co_return co_await inner_->unmap(ranges);
}

boost::asio::awaitable<core::Result<core::LbaStatus>> MeteredDevice::lba_status(core::Lba lba) {
  co_return co_await inner_->lba_status(lba);
}

}  // namespace swiftness::admin
