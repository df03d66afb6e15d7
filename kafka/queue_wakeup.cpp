#include "kafka/queue_wakeup.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <cstring>

namespace wcoord::kafka {

queue_wakeup::queue_wakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0)
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

queue_wakeup::~queue_wakeup() {
  ::close(fd_);
}

void queue_wakeup::watch(rd_kafka_queue_t* q) {
  // An eventfd takes writes of exactly 8 bytes; librdkafka keeps a copy.
  const uint64_t one = 1;
  rd_kafka_queue_io_event_enable(q, fd_, &one, sizeof(one));
}

void queue_wakeup::unwatch(rd_kafka_queue_t* q) {
  rd_kafka_queue_io_event_enable(q, -1, nullptr, 0);
}

void queue_wakeup::clear() {
  uint64_t count;
  while (::read(fd_, &count, sizeof(count)) > 0) {
    // an eventfd read returns and resets the whole count at once
  }
}

void queue_wakeup::wait(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(timeout.count()));
}

} // namespace wcoord::kafka
