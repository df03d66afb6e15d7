#include "app/signals.hpp"

#include <pthread.h>
#include <unistd.h>

#include <thread>

namespace wcoord {

namespace {

sigset_t termination_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

} // namespace

void block_termination_signals() {
  auto set = termination_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination(std::chrono::milliseconds timeout) {
  auto set = termination_set();
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

void exit_on_second_signal() {
  std::thread([] {
    auto set = termination_set();
    int sig = 0;
    sigwait(&set, &sig);
    static const char msg[] = "wcoord: second signal, exiting now\n";
    (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(130);
  }).detach();
}

} // namespace wcoord
